#!/usr/bin/env python3
"""The EKS APIs moto 5.2 does not implement, answered as the EKS API reference documents them.

    eks_api_standin.py PORT [UPSTREAM_URL]

moto routes only clusters, node groups, Fargate profiles, update-config and tags; add-ons, pod
identity associations, access entries (with their access policies) and DescribeUpdate answer 404
"Not yet implemented" (see ../shared/reference/EKS-KURTOSIS-FACTS.md). This server keeps those
objects in memory and answers with the request and response shapes of the EKS API reference and
botocore's `eks/2017-11-01/service-2.json` (field names, status values, error types in
`X-Amzn-ErrorType` with a JSON `{"message": ...}` body). Every other request is forwarded
unchanged to UPSTREAM_URL (moto), so one endpoint serves the whole EKS API; a request naming a
cluster the upstream does not know is refused with `ResourceNotFoundException` as EKS does.

It is a recording of documented behaviour, not EKS: the texts of error messages are close to
EKS's but not verified byte for byte, and validation covers what ethstack's tests rely on.

Objects take a little time, as on EKS: an add-on answers CREATING (or DELETING) for the first
PENDING_READS describes (environment EKS_STANDIN_PENDING_READS, default 1), an update
InProgress for as many DescribeUpdate calls. Worlds are per region (from the SigV4 scope).
Listens on 127.0.0.1:PORT (0: a free port, printed as `PORT <n>`); GET /__standin/state dumps
everything as JSON.

With EKS_STANDIN_CLUSTER_ENDPOINT=URL in the environment, every cluster the upstream describes gets
URL as its `endpoint` (moto makes up `https://RANDOM.RND.REGION.eks.amazonaws.com`, which nothing
answers): the kubernetes, helm and kurtosis providers configured from the cluster then reach the
Kubernetes API test server at URL (scripts/local-testnet, the end-to-end test).
"""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import urllib.parse
import uuid
from datetime import datetime, timezone

port = int(sys.argv[1])
upstream = urllib.parse.urlsplit(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] else None
pending_reads = int(os.environ.get("EKS_STANDIN_PENDING_READS", "1"))
cluster_endpoint = os.environ.get("EKS_STANDIN_CLUSTER_ENDPOINT", "")
MOTO_ENDPOINT = re.compile(rb'"endpoint":\s*"https://[A-Za-z0-9.-]+\.eks\.amazonaws\.com/?"')
lock = threading.Lock()
ACCOUNT = "123456789012"
# What `aws eks describe-addon-versions` lists for 1.31 (the ones the tests and the seed use).
ADDON_VERSIONS = {
    "vpc-cni": "v1.19.0-eksbuild.1", "coredns": "v1.11.3-eksbuild.2", "kube-proxy": "v1.31.2-eksbuild.3",
    "aws-ebs-csi-driver": "v1.37.0-eksbuild.1", "snapshot-controller": "v8.1.0-eksbuild.1",
    "eks-pod-identity-agent": "v1.3.4-eksbuild.1", "aws-efs-csi-driver": "v2.1.0-eksbuild.1",
    "amazon-cloudwatch-observability": "v2.5.0-eksbuild.1",
}
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|assumed-role)/.+$")
POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:eks::aws:cluster-access-policy/[A-Za-z]+$")
# world[region] = {"addons": {(cluster, name): addon}, "associations": {(cluster, id): a},
#                  "entries": {(cluster, principal): entry}, "policies": {(cluster, principal): {arn: p}},
#                  "updates": {id: [update, reads, addon key]}, "tags": {arn: {k: v}}}
worlds = {}


def now():
    return datetime.now(timezone.utc).timestamp()


def world(region):
    return worlds.setdefault(region, {"addons": {}, "associations": {}, "entries": {}, "policies": {},
                                      "updates": {}, "tags": {}})


class Refusal(Exception):
    def __init__(self, status, kind, message):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def invalid(message):
    return Refusal(400, "InvalidParameterException", message)


def not_found(message):
    return Refusal(404, "ResourceNotFoundException", message)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, payload, error_type=None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if error_type:
            self.send_header("X-Amzn-ErrorType", error_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def region(self):
        m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", ""))
        return m.group(1) if m else "us-east-1"

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/__standin/state":
            with lock:
                return self.answer(200, {r: {k: {"%s|%s" % key: v for key, v in objs.items()} if k in ("addons", "associations", "entries") else len(objs)
                                             for k, objs in w.items()} for r, w in worlds.items()})
        local = (len(parts) >= 3 and parts[0] == "clusters" and parts[2] in ("addons", "pod-identity-associations", "access-entries", "updates")) \
            or (len(parts) >= 2 and parts[0] == "tags" and re.search(r":(addon|podidentityassociation|access-entry)/", parts[1] or ""))
        if not local:
            return self.forward(body)
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            return self.answer(400, {"message": "the request body is not JSON"}, "SerializationException")
        try:
            if parts[0] == "clusters":
                self.require_cluster(parts[1])
            with lock:
                status, payload = self.route(parts, query, request, world(self.region()))
            self.answer(status, payload)
        except Refusal as r:
            self.answer(r.status, {"message": r.message}, r.kind)

    def require_cluster(self, name):
        if upstream is None:
            return
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "x-amz-date", "host")}
        conn.request("GET", "/clusters/" + urllib.parse.quote(name, safe=""), headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status == 404:
            raise not_found("No cluster found for name: %s." % name)

    def forward(self, body):
        if upstream is None:
            return self.answer(404, {"message": "Not yet implemented"}, "ResourceNotFoundException")
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if cluster_endpoint and self.path.startswith("/clusters"):
            data = MOTO_ENDPOINT.sub(b'"endpoint": ' + json.dumps(cluster_endpoint).encode(), data)
        self.send_response(response.status)
        for k, v in response.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    # ---- routing ---------------------------------------------------------------------------

    def route(self, parts, query, req, w):
        m = self.command
        if parts[0] == "tags":
            return self.tags(parts[1], query, req, w)
        cluster, kind, rest = parts[1], parts[2], parts[3:]
        if kind == "updates" and len(rest) == 1 and m == "GET":
            return self.describe_update(cluster, rest[0], w)
        if kind == "addons":
            if not rest:
                if m == "POST":
                    return self.create_addon(cluster, req, w)
                if m == "GET":
                    return 200, {"addons": sorted(n for (c, n) in w["addons"] if c == cluster)}
            elif len(rest) == 1 and m == "GET":
                return 200, {"addon": self.read_addon(cluster, rest[0], w)}
            elif len(rest) == 1 and m == "DELETE":
                return self.delete_addon(cluster, rest[0], query, w)
            elif len(rest) == 2 and rest[1] == "update" and m == "POST":
                return self.update_addon(cluster, rest[0], req, w)
        if kind == "pod-identity-associations":
            if not rest:
                if m == "POST":
                    return self.create_association(cluster, req, w, owner=None)
                if m == "GET":
                    found = [a for (c, _), a in w["associations"].items() if c == cluster
                             and query.get("namespace", a["namespace"]) == a["namespace"]
                             and query.get("serviceAccount", a["serviceAccount"]) == a["serviceAccount"]]
                    return 200, {"associations": [{k: a[k] for k in ("clusterName", "namespace", "serviceAccount", "associationArn",
                                                                     "associationId", "ownerArn") if k in a} for a in found]}
            elif len(rest) == 1:
                a = w["associations"].get((cluster, rest[0]))
                if a is None:
                    raise not_found("No Pod Identity Association found for id: %s." % rest[0])
                if m == "GET":
                    return 200, {"association": self.with_tags(a, "associationArn", w)}
                if m == "POST":
                    return self.update_association(a, req, w)
                if m == "DELETE":
                    if a.get("ownerArn"):
                        raise invalid("Pod Identity Association %s is managed by %s and cannot be deleted directly." % (a["associationId"], a["ownerArn"]))
                    del w["associations"][(cluster, rest[0])]
                    return 200, {"association": a}
        if kind == "access-entries":
            if not rest:
                if m == "POST":
                    return self.create_entry(cluster, req, w)
                if m == "GET":
                    return 200, {"accessEntries": sorted(p for (c, p) in w["entries"] if c == cluster)}
            principal = rest[0] if rest else ""
            entry = w["entries"].get((cluster, principal))
            if entry is None:
                raise not_found("The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.")
            if len(rest) == 1:
                if m == "GET":
                    return 200, {"accessEntry": self.with_tags(entry, "accessEntryArn", w)}
                if m == "POST":
                    if "kubernetesGroups" in req:
                        self.check_groups(req["kubernetesGroups"], entry["type"])
                        entry["kubernetesGroups"] = list(req["kubernetesGroups"])
                    if req.get("username"):
                        entry["username"] = req["username"]
                    entry["modifiedAt"] = now()
                    return 200, {"accessEntry": entry}
                if m == "DELETE":
                    del w["entries"][(cluster, principal)]
                    w["policies"].pop((cluster, principal), None)
                    return 200, {}
            policies = w["policies"].setdefault((cluster, principal), {})
            if len(rest) == 2 and rest[1] == "access-policies":
                if m == "GET":
                    return 200, {"clusterName": cluster, "principalArn": principal,
                                 "associatedAccessPolicies": [policies[k] for k in sorted(policies)]}
                if m == "POST":
                    return self.associate_policy(cluster, principal, req, policies)
            if len(rest) == 3 and rest[1] == "access-policies" and m == "DELETE":
                if rest[2] not in policies:
                    raise not_found("The specified policyArn could not be found for this access entry.")
                del policies[rest[2]]
                return 200, {}
        raise Refusal(404, "ResourceNotFoundException", "no such operation: %s %s" % (m, "/".join(parts)))

    # ---- add-ons ---------------------------------------------------------------------------

    def arn(self, kind, *names):
        return "arn:aws:eks:%s:%s:%s/%s" % (self.region(), ACCOUNT, kind, "/".join(names))

    def check_addon_request(self, req):
        if "configurationValues" in req and req["configurationValues"] not in (None, ""):
            try:
                values = json.loads(req["configurationValues"])
            except ValueError:
                raise invalid("ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$: the value is not valid JSON]")
            if not isinstance(values, dict):
                raise invalid("ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$: must be an object]")
        if req.get("resolveConflicts") not in (None, "OVERWRITE", "NONE", "PRESERVE"):
            raise invalid("resolveConflicts must be one of OVERWRITE, NONE, PRESERVE")
        if req.get("serviceAccountRoleArn") and not ROLE_ARN.match(req["serviceAccountRoleArn"]):
            raise invalid("Role ARN %s is not a valid IAM role ARN." % req["serviceAccountRoleArn"])
        for p in req.get("podIdentityAssociations") or []:
            if not p.get("serviceAccount") or not ROLE_ARN.match(p.get("roleArn") or ""):
                raise invalid("podIdentityAssociations need a serviceAccount and a valid IAM role ARN, got %s" % json.dumps(p))

    def create_addon(self, cluster, req, w):
        name = req.get("addonName") or ""
        if name not in ADDON_VERSIONS:
            raise invalid("Addon %s specified is not supported in 1.31 kubernetes version" % name)
        self.check_addon_request(req)
        if (cluster, name) in w["addons"]:
            raise Refusal(409, "ResourceInUseException", "Addon already exists.")
        arn = self.arn("addon", cluster, name, str(uuid.uuid4()))
        addon = {"addonName": name, "clusterName": cluster, "status": "CREATING",
                 "addonVersion": req.get("addonVersion") or ADDON_VERSIONS[name], "health": {"issues": []},
                 "addonArn": arn, "createdAt": now(), "modifiedAt": now(), "owner": "aws", "publisher": "eks",
                 "podIdentityAssociations": [], "_reads": pending_reads}
        if req.get("serviceAccountRoleArn"):
            addon["serviceAccountRoleArn"] = req["serviceAccountRoleArn"]
        if req.get("configurationValues"):
            addon["configurationValues"] = req["configurationValues"]
        w["tags"][arn] = dict(req.get("tags") or {})
        self.set_addon_associations(addon, req.get("podIdentityAssociations") or [], w)
        w["addons"][(cluster, name)] = addon
        return 200, {"addon": self.public(addon, w)}

    def set_addon_associations(self, addon, wanted, w):
        cluster = addon["clusterName"]
        namespace = "kube-system"
        for (c, i), a in list(w["associations"].items()):
            if c == cluster and a.get("ownerArn") == addon["addonArn"]:
                del w["associations"][(c, i)]
        arns = []
        for p in wanted:
            _, payload = self.create_association(cluster, {"namespace": namespace, "serviceAccount": p["serviceAccount"],
                                                           "roleArn": p["roleArn"]}, w, owner=addon["addonArn"])
            arns.append(payload["association"]["associationArn"])
        addon["podIdentityAssociations"] = arns

    def public(self, obj, w, arn_key="addonArn"):
        out = {k: v for k, v in obj.items() if not k.startswith("_")}
        out["tags"] = dict(w["tags"].get(obj[arn_key], {}))
        return out

    def read_addon(self, cluster, name, w):
        addon = w["addons"].get((cluster, name))
        if addon is None:
            raise not_found("No addon: %s found in cluster: %s" % (name, cluster))
        if addon["_reads"] > 0:
            addon["_reads"] -= 1
        elif addon["status"] == "CREATING" or addon["status"] == "UPDATING":
            addon["status"] = "ACTIVE"
        elif addon["status"] == "DELETING":
            del w["addons"][(cluster, name)]
            raise not_found("No addon: %s found in cluster: %s" % (name, cluster))
        return self.public(addon, w)

    def update_addon(self, cluster, name, req, w):
        addon = w["addons"].get((cluster, name))
        if addon is None:
            raise not_found("No addon: %s found in cluster: %s" % (name, cluster))
        if addon["status"] in ("CREATING", "UPDATING", "DELETING"):
            raise Refusal(409, "ResourceInUseException", "Addon %s is %s: an update is not allowed now." % (name, addon["status"]))
        self.check_addon_request(req)
        params = []
        for key, ptype in (("addonVersion", "AddonVersion"), ("serviceAccountRoleArn", "ServiceAccountRoleArn"),
                           ("configurationValues", "ConfigurationValues"), ("resolveConflicts", "ResolveConflicts")):
            if key in req and req[key] is not None:
                params.append({"type": ptype, "value": req[key]})
                if key == "resolveConflicts":
                    continue
                if req[key] == "":
                    addon.pop(key, None)
                else:
                    addon[key] = req[key]
        if "podIdentityAssociations" in req and req["podIdentityAssociations"] is not None:
            params.append({"type": "PodIdentityAssociations", "value": json.dumps(req["podIdentityAssociations"])})
            self.set_addon_associations(addon, req["podIdentityAssociations"], w)
        addon["status"], addon["_reads"], addon["modifiedAt"] = "UPDATING", pending_reads, now()
        update = {"id": str(uuid.uuid4()), "status": "InProgress", "type": "AddonUpdate", "params": params,
                  "createdAt": now(), "errors": []}
        w["updates"][update["id"]] = [update, pending_reads]
        return 200, {"update": update}

    def describe_update(self, cluster, update_id, w):
        entry = w["updates"].get(update_id)
        if entry is None:
            raise not_found("No update found for ID: %s." % update_id)
        update, reads = entry
        if reads > 0:
            entry[1] -= 1
        else:
            update["status"] = "Successful"
        return 200, {"update": update}

    def delete_addon(self, cluster, name, query, w):
        addon = w["addons"].get((cluster, name))
        if addon is None:
            raise not_found("No addon: %s found in cluster: %s" % (name, cluster))
        addon["status"], addon["_reads"] = "DELETING", pending_reads
        for (c, i), a in list(w["associations"].items()):
            if c == cluster and a.get("ownerArn") == addon["addonArn"]:
                del w["associations"][(c, i)]
        return 200, {"addon": self.public(addon, w)}

    # ---- pod identity associations ------------------------------------------------------------

    def create_association(self, cluster, req, w, owner):
        for key in ("namespace", "serviceAccount", "roleArn"):
            if not req.get(key):
                raise invalid("%s is required" % key)
        if not ROLE_ARN.match(req["roleArn"]):
            raise invalid("Role ARN %s is not a valid IAM role ARN." % req["roleArn"])
        for (c, _), a in w["associations"].items():
            if c == cluster and a["namespace"] == req["namespace"] and a["serviceAccount"] == req["serviceAccount"]:
                raise Refusal(409, "ResourceInUseException", "Association already exists: %s" % a["associationId"])
        assoc_id = "a-" + uuid.uuid4().hex[:17]
        arn = self.arn("podidentityassociation", cluster, assoc_id)
        a = {"clusterName": cluster, "namespace": req["namespace"], "serviceAccount": req["serviceAccount"],
             "roleArn": req["roleArn"], "associationArn": arn, "associationId": assoc_id, "createdAt": now(),
             "modifiedAt": now(), "disableSessionTags": bool(req.get("disableSessionTags") or False)}
        if owner:
            a["ownerArn"] = owner
        w["tags"][arn] = dict(req.get("tags") or {})
        w["associations"][(cluster, assoc_id)] = a
        return 200, {"association": self.with_tags(a, "associationArn", w)}

    def update_association(self, a, req, w):
        if a.get("ownerArn"):
            raise invalid("Pod Identity Association %s is managed by %s: update the add-on instead." % (a["associationId"], a["ownerArn"]))
        if req.get("roleArn"):
            if not ROLE_ARN.match(req["roleArn"]):
                raise invalid("Role ARN %s is not a valid IAM role ARN." % req["roleArn"])
            a["roleArn"] = req["roleArn"]
        if req.get("disableSessionTags") is not None:
            a["disableSessionTags"] = bool(req["disableSessionTags"])
        a["modifiedAt"] = now()
        return 200, {"association": self.with_tags(a, "associationArn", w)}

    def with_tags(self, obj, arn_key, w):
        out = dict(obj)
        out["tags"] = dict(w["tags"].get(obj[arn_key], {}))
        return out

    # ---- access entries --------------------------------------------------------------------

    def check_groups(self, groups, entry_type):
        for g in groups or []:
            if g.startswith("system:"):
                raise invalid("The kubernetes group name %s is invalid, it cannot start with system:" % g)
        if groups and entry_type != "STANDARD":
            raise invalid("Kubernetes groups can only be set for access entries of type STANDARD.")

    def create_entry(self, cluster, req, w):
        principal = req.get("principalArn") or ""
        if not PRINCIPAL_ARN.match(principal):
            raise invalid("The specified principalArn is invalid: invalid ARN %s" % principal)
        entry_type = req.get("type") or "STANDARD"
        if entry_type not in ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX"):
            raise invalid("The access entry type %s is not supported." % entry_type)
        self.check_groups(req.get("kubernetesGroups"), entry_type)
        if (cluster, principal) in w["entries"]:
            raise Refusal(409, "ResourceInUseException", "The specified access entry resource is already in use on this cluster.")
        name = principal.split(":", 5)[5]
        arn = self.arn("access-entry", cluster, name.replace(":", "/"), str(uuid.uuid4()))
        entry = {"clusterName": cluster, "principalArn": principal, "kubernetesGroups": list(req.get("kubernetesGroups") or []),
                 "accessEntryArn": arn, "createdAt": now(), "modifiedAt": now(),
                 "username": req.get("username") or ("%s:{{SessionName}}" % principal if ":role/" in principal else principal),
                 "type": entry_type}
        w["tags"][arn] = dict(req.get("tags") or {})
        w["entries"][(cluster, principal)] = entry
        return 200, {"accessEntry": self.with_tags(entry, "accessEntryArn", w)}

    def associate_policy(self, cluster, principal, req, policies):
        policy = req.get("policyArn") or ""
        scope = req.get("accessScope") or {}
        if not POLICY_ARN.match(policy):
            raise invalid("The policyArn %s is not a valid EKS access policy ARN." % policy)
        if scope.get("type") not in ("cluster", "namespace"):
            raise invalid("accessScope.type must be cluster or namespace")
        if scope["type"] == "namespace" and not scope.get("namespaces"):
            raise invalid("accessScope.namespaces is required when the type is namespace")
        if scope["type"] == "cluster" and scope.get("namespaces"):
            raise invalid("accessScope.namespaces must be empty when the type is cluster")
        p = {"policyArn": policy, "accessScope": {"type": scope["type"], "namespaces": list(scope.get("namespaces") or [])},
             "associatedAt": policies.get(policy, {}).get("associatedAt", now()), "modifiedAt": now()}
        policies[policy] = p
        return 200, {"clusterName": cluster, "principalArn": principal, "associatedAccessPolicy": p}

    # ---- tags of the objects above -------------------------------------------------------------

    def tags(self, arn, query, req, w):
        if arn not in w["tags"]:
            raise not_found("Resource %s not found" % arn)
        if self.command == "GET":
            return 200, {"tags": w["tags"][arn]}
        if self.command == "POST":
            w["tags"][arn].update(req.get("tags") or {})
            return 200, {}
        if self.command == "DELETE":
            keys = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("tagKeys", [])
            for k in keys:
                w["tags"][arn].pop(k, None)
            return 200, {}
        raise Refusal(405, "InvalidRequestException", "method not allowed")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128


server = Server(("127.0.0.1", port), Handler)
print("PORT %d" % server.server_address[1], flush=True)
server.serve_forever()
