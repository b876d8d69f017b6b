"""Airflow test setup: a private AIRFLOW_HOME (SQLite metadata, no examples) for the whole session.

Airflow reads its configuration once, when it is first imported, so this file sets it before any
test module imports Airflow. The tests skip (with the reason) when the `airflow` extra is missing;
`./dev test` installs it (scripts/setup.d/30-airflow.sh).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO.parent / "shared" / "schemas"
NEEDS_AIRFLOW = "the airflow extra is not installed (scripts/setup.d/30-airflow.sh installs it)"

AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="grocery-airflow-test-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(AIRFLOW_HOME / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
    }
)
(AIRFLOW_HOME / "dags").mkdir()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database, migrated once per session; returns AIRFLOW_HOME."""
    pytest.importorskip("airflow", reason=NEEDS_AIRFLOW)
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return AIRFLOW_HOME


@pytest.fixture(scope="session")
def dags_folder() -> Path:
    """The DAG folder Airflow parses in this session (dag.test() syncs it to the database)."""
    return AIRFLOW_HOME / "dags"


def _write_pipeline(folder: Path, name: str, spec: dict | None = None, namespace: str = "default") -> Path:
    import yaml

    from grocery.airflow.dagfile import sync_dag_files

    doc = {
        "apiVersion": "grocery.io/v1alpha1",
        "kind": "GroceryPipeline",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec or {},
    }
    path = folder / f"{namespace}__{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    sync_dag_files(folder)
    return path


@pytest.fixture(scope="session")
def write_pipeline():
    """write_pipeline(folder, name, spec=None, namespace="default"): a pipeline file and its DAG file."""
    return _write_pipeline
