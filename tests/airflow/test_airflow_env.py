"""Airflow shares the main environment: installing it broke none of the other extras."""

from __future__ import annotations

import subprocess
import sys
from importlib.util import find_spec

import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")


def test_every_installed_requirement_is_satisfied_with_airflow_in_the_environment():
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_airflow_and_the_other_extras_import_together():
    modules = [
        "airflow.providers.cncf.kubernetes.operators.pod",
        "airflow.providers.cncf.kubernetes.operators.spark_kubernetes",
        "airflow.providers.apache.livy.operators.livy",
        "grocery.airflow.factory",
    ] + [m for m in ("dbt.cli.main", "dbt.adapters.duckdb", "pyspark.ml", "kopf", "google.cloud.bigquery")
         if find_spec(m.split(".")[0]) is not None]  # fmt: skip
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
