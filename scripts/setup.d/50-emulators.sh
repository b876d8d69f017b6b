#!/usr/bin/env bash
# The BigQuery emulator for tests/cloud, in an environment of its own (.venv-emulators): bqemulator
# 1.4.0 pins an older DuckDB (1.5.5) than the project's. Its DuckDB extensions (spatial, needed at
# start; avro) come from PyPI wheels and are copied into DuckDB's extension folder here, so the
# emulator never downloads anything when it starts. numpy: the emulator's Parquet loads need it.
# The GCS emulator (gcp-storage-emulator, pure Python) lives in the main environment (the dev extra).
# Idempotent: nothing happens while the stamp is newer than this script and the extensions are there.
set -euo pipefail
cd "$(dirname "$0")/../.."

EMU_VENV=${GROCERY_EMULATORS_VENV:-.venv-emulators}
DUCKDB_VERSION=1.5.5
stamp="$EMU_VENV/.installed"
ext_dir="${HOME}/.duckdb/extensions/v${DUCKDB_VERSION}"

have_extensions() {
  compgen -G "$ext_dir/*/spatial.duckdb_extension" >/dev/null &&
    compgen -G "$ext_dir/*/avro.duckdb_extension" >/dev/null
}

if [ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && [ -x "$EMU_VENV/bin/bqemulator" ] && have_extensions; then
  exit 0
fi

python_bin() {
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
      echo "$candidate"; return
    fi
  done
  echo "error: Python 3.11 or newer is needed for the BigQuery emulator" >&2
  exit 1
}

echo "setting up the BigQuery emulator in $EMU_VENV (first run only, about a minute)..." >&2
[ -x "$EMU_VENV/bin/python" ] || "$(python_bin)" -m venv "$EMU_VENV"
"$EMU_VENV/bin/python" -m pip install --quiet --quiet \
  "bqemulator==1.4.0" \
  "duckdb==${DUCKDB_VERSION}" \
  "duckdb-extensions==${DUCKDB_VERSION}" \
  "duckdb-extension-spatial==${DUCKDB_VERSION}" \
  "duckdb-extension-avro==${DUCKDB_VERSION}" \
  numpy
# INSTALL from the wheels' files copies each extension into DuckDB's folder for this version.
"$EMU_VENV/bin/python" - <<'EOF'
import duckdb
from duckdb_extensions import import_extension

con = duckdb.connect()
for name in ("spatial", "avro"):
    import_extension(name, con=con)
    con.execute(f"LOAD {name}")
EOF
have_extensions || { echo "error: the DuckDB extensions did not land in $ext_dir" >&2; exit 1; }
touch "$stamp"
