#!/usr/bin/env bash
# Airflow 3.3 and its Kubernetes and Livy providers (the `airflow` extra) in the main environment,
# for the DAG factory's tests and scripts/airflow-standalone. They share .venv with dbt, Spark, kopf
# and the Google clients: measured, the same versions resolve with and without Airflow and
# `pip check` is clean. The install is constrained to the versions already in the environment, so
# it can never silently up- or downgrade a package another extra depends on: if Airflow ever needs
# a different version, this step fails and says so.
# Idempotent: nothing happens while the stamp is newer than pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=${VENV:-.venv}
stamp="$VENV/.airflow-installed"
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
echo "installing Airflow into $VENV (first run only, about a minute)..." >&2
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
"$VENV/bin/python" -m pip freeze --exclude-editable | grep -v '^grocery-pipeline' >"$constraints" || true
if ! "$VENV/bin/python" -m pip install --quiet --quiet -e ".[airflow]" -c "$constraints"; then
  echo "error: Airflow cannot be installed into $VENV without changing a package that is already there;" \
    "it needs an environment of its own (see scripts/setup.d/30-airflow.sh)" >&2
  exit 1
fi
touch "$stamp"
