"""Whole pipeline runs for tests/cloud: `grocery run` embedded (DuckDB) and on the emulators (GCS + BigQuery).

The same generated delivery goes through the pipeline twice:
- embedded: `grocery run` (every stage) with a local lake and DuckDB;
- cloud: `grocery run` with the spec a GKE deployment would use (a `gs://` lake, the bigquery
  warehouse), the emulators reached only through the environment (`grocery.cloud`).

Spark has no GCS connector here (its jar is not in the reachable registries), so on the cloud path
the Spark stages' lake input and output are staged through the GCS emulator from Python: the export
of core.fct_sales is made by BigQuery's EXPORT DATA into the bucket (`ensure_export`, as on the
cluster), downloaded to a local mirror of the lake, `segment` and `recommend` run there, and their
`analytics/` folders are published back to the bucket, where `publish` loads them into BigQuery.
Every stage but Spark's own file access runs as on the cluster.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from grocery.config import PipelineSpec
from grocery.context import Context
from grocery.interval import DataInterval
from grocery.lake import Lake
from grocery.stages import BY_NAME
from grocery.warehouse.duckdb import DuckDBWarehouse

from .emulators import Cloud, cloud_settings

SPARK_STAGES = ("segment", "recommend")


def grocery(*args: str) -> dict[str, Any]:
    """`grocery run ... --json` in this process; the stage results, or a failure with the command's output."""
    from grocery.cli import app

    result = CliRunner().invoke(app, ["run", *args, "--json", "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout[result.stdout.index("{") :])


def write_config(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grocery.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def registered(*names: str) -> bool:
    return all(name in BY_NAME for name in names)


@dataclass
class EmbeddedRun:
    home: Path
    results: dict[str, Any]

    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(self.home / "warehouse.duckdb")


@dataclass
class CloudRun:
    cloud: Cloud
    home: Path
    spec: PipelineSpec
    results: dict[str, Any]

    def context(self, interval: DataInterval | None = None) -> Context:
        return Context(spec=self.spec, home=self.home, interval=interval or DataInterval.everything())

    def warehouse(self):
        return self.cloud.warehouse()


def run_embedded(delivery: Path, home: Path) -> EmbeddedRun:
    config = write_config(home, {"source": {"kind": "path", "path": str(delivery)}})
    return EmbeddedRun(home, grocery("--config", str(config), "--home", str(home)))


def stage_spark_through_the_lake(ctx: Context, mirror_root: Path) -> dict[str, Any]:
    """Run `segment` and `recommend` on a local mirror of the gs:// lake: input down, outputs up."""
    from grocery.cli import run_stages
    from grocery.spark.export import EXPORT_DIR, ensure_export, run_date
    from grocery.spark.jobs import ANALYTICS_TABLES, analytics_dir

    marker = ensure_export(ctx)  # BigQuery EXPORT DATA into the bucket, as on the cluster
    mirror = Lake(mirror_root.resolve().as_uri())
    with ctx.lake.local_copy(EXPORT_DIR) as exported:
        shutil.copytree(exported, mirror.local_path(EXPORT_DIR))
    local = Context(spec=ctx.spec.with_overrides(lake=mirror.uri()), home=ctx.home, interval=ctx.interval)
    results = run_stages(local, list(SPARK_STAGES))  # the export marker matches: no second export
    as_of = run_date(ctx, marker)
    for table in ANALYTICS_TABLES:
        folder = analytics_dir(table, as_of)
        ctx.lake.publish_dir(mirror.local_path(folder), folder)
    return results


def run_on_emulators(cloud: Cloud, delivery: Path, home: Path) -> CloudRun:
    """`grocery run` on the emulators: extract, load, transform; Spark staged through the lake; publish."""
    data = cloud.spec_data(delivery)
    config = write_config(home, data)
    run = CloudRun(cloud, home, PipelineSpec.model_validate(data), {})
    with cloud_settings(cloud):
        run.results = grocery(
            "--config", str(config), "--home", str(home), "--stages", "extract,load,transform"
        )
        if registered(*SPARK_STAGES):
            ctx = run.context()
            try:
                run.results |= stage_spark_through_the_lake(ctx, home / "spark-lake")
            finally:
                ctx.close()
        if registered("publish"):
            run.results |= grocery("--config", str(config), "--home", str(home), "--stages", "publish")
    return run
