#!/usr/bin/env python3
"""What a local testnet (scripts/local-testnet) left behind in its stand-ins, as one JSON object.

    local_leftovers.py        (reads AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EKS, KUBERNETES_API, AWS_REGION)

{"aws": [...], "kubernetes": [...], "retained": [...]}: every AWS object in moto and the EKS stand-in
that is not one of moto's defaults (default VPC, its subnets, security group, route table…), every
Kubernetes object the test server did not start with, and, apart, the PersistentVolumes a `Retain`
storage class kept after their claims were deleted (what `ethstack destroy` keeps on purpose:
docs/cleanup.md). Calls are signed with the dummy credentials in the environment; nothing leaves
127.0.0.1.
"""
import json
import os
import subprocess
import sys
import urllib.request

import boto3

region = os.environ.get("AWS_REGION", "us-east-1")
moto = os.environ["AWS_ENDPOINT_URL"]
eks_url = os.environ.get("AWS_ENDPOINT_URL_EKS", moto)
kube = os.environ["KUBERNETES_API"]


def client(service, url=moto):
    return boto3.client(service, region_name=region, endpoint_url=url)


aws = []
ec2 = client("ec2")
default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")}
for v in ec2.describe_vpcs()["Vpcs"]:
    if v["VpcId"] not in default_vpcs:
        aws.append("vpc " + v["VpcId"])
for s in ec2.describe_subnets()["Subnets"]:
    if s["VpcId"] not in default_vpcs:
        aws.append("subnet " + s["SubnetId"])
for g in ec2.describe_security_groups()["SecurityGroups"]:
    if g["VpcId"] not in default_vpcs and g["GroupName"] != "default":
        aws.append("security group " + g["GroupId"])
for i in ec2.describe_internet_gateways()["InternetGateways"]:
    if not any(a.get("VpcId") in default_vpcs for a in i.get("Attachments", [])):
        aws.append("internet gateway " + i["InternetGatewayId"])
for n in ec2.describe_nat_gateways()["NatGateways"]:
    if n["State"] not in ("deleted", "deleting"):
        aws.append("nat gateway " + n["NatGatewayId"])
for a in ec2.describe_addresses()["Addresses"]:
    aws.append("eip " + a.get("AllocationId", a.get("PublicIp", "?")))
for r in ec2.describe_route_tables()["RouteTables"]:
    if r["VpcId"] not in default_vpcs:
        aws.append("route table " + r["RouteTableId"])
iam = client("iam")
for r in iam.list_roles()["Roles"]:
    aws.append("iam role " + r["RoleName"])
s3 = client("s3")
for b in s3.list_buckets().get("Buckets", []):
    aws.append("s3 bucket " + b["Name"])
eks = client("eks", eks_url)
for c in eks.list_clusters()["clusters"]:
    aws.append("eks cluster " + c)
    for g in eks.list_nodegroups(clusterName=c)["nodegroups"]:
        aws.append("eks node group %s/%s" % (c, g))
with urllib.request.urlopen(eks_url + "/__standin/state", timeout=10) as response:
    for world in json.load(response).values():
        for kind in ("addons", "associations", "entries"):
            for key in world.get(kind, {}):
                aws.append("eks %s %s" % (kind, key))

# Kubernetes: every object of every listable resource type, minus what the server starts with.
BASELINE_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
kubectl = ["kubectl", "--server", kube]
names = subprocess.run(kubectl + ["api-resources", "--verbs=list", "-o", "name"], check=True, capture_output=True,
                       text=True, timeout=60).stdout.split()
kubernetes, retained = [], []
skip = {"events", "events.events.k8s.io", "endpoints", "nodes", "apiservices.apiregistration.k8s.io"}
listing = json.loads(subprocess.run(kubectl + ["get", ",".join(n for n in names if n not in skip), "-A", "-o", "json"],
                                    check=True, capture_output=True, text=True, timeout=60).stdout)
for item in listing.get("items", []):
    meta = item.get("metadata", {})
    kind, ns, name = item.get("kind"), meta.get("namespace"), meta.get("name")
    where = "%s %s/%s" % (kind, ns, name) if ns else "%s %s" % (kind, name)
    if kind == "Namespace" and name in BASELINE_NAMESPACES:
        continue
    if ns in BASELINE_NAMESPACES and kind in ("ServiceAccount", "ConfigMap", "Service") and \
            name in ("default", "kube-root-ca.crt", "kubernetes"):
        continue
    if kind == "StorageClass" and name == "standard":
        continue
    if kind == "CustomResourceDefinition" and (name.endswith(".monitoring.coreos.com") or name.endswith(".snapshot.storage.k8s.io")):
        continue  # pre-installed by --with-standard-crds (on EKS: kube-prometheus-stack, the snapshot add-on)
    if kind == "PersistentVolume" and item.get("spec", {}).get("persistentVolumeReclaimPolicy") == "Retain" \
            and item.get("status", {}).get("phase") == "Released":
        retained.append(where)
        continue
    kubernetes.append(where)

json.dump({"aws": sorted(aws), "kubernetes": sorted(kubernetes), "retained": sorted(retained)}, sys.stdout, indent=1)
print()
