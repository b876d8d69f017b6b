"""Airflow's view of the grocery pipelines: one DAG per pipeline file, one task per registered stage.

A pipeline reaches Airflow as a file `<namespace>__<name>.yaml` holding a `GroceryPipeline` document
(what the operator renders, see `grocery.config.read_pipeline`). Beside it sits a DAG file
`<namespace>__<name>.py` whose text is the same for every pipeline (`grocery.airflow.dagfile`): it
calls `dag_from_file` on the `.yaml` of its own name. One DAG file per pipeline is what makes a
broken pipeline file an import error of its own, naming that file, while the other pipelines keep
running: Airflow 3 marks every DAG of a file that fails to import as stale, so one file building
all pipelines would take them all down together.

Modules:
- `dagfile`: the DAG file's text and `sync_dag_files` (no Airflow import: the operator can use it);
- `commands`: the command line each stage runs, the same on a laptop and in a pod;
- `manifests`: pure renderers of the pod settings, SparkApplications and Livy batches;
- `factory`: `build_dag` / `dag_from_file`, and the one factory of every stage's operator.

Run `python -m grocery.airflow sync FOLDER` to write the DAG file beside each pipeline file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from grocery.config import NamedPipeline


def dag_from_file(path: str | Path) -> DAG:
    """The DAG of one pipeline file; any problem is a `ConfigError` naming the file."""
    from grocery.airflow.factory import dag_from_file as build

    return build(path)


def build_dag(pipeline: NamedPipeline, source: str | Path | None = None) -> DAG:
    """The DAG of one pipeline; `source` is the file it came from (for `--config` and the docs)."""
    from grocery.airflow.factory import build_dag as build

    return build(pipeline, source)


__all__ = ["build_dag", "dag_from_file"]
