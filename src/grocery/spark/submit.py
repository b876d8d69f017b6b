"""The `spark_apps/` entries: a Spark stage's own `grocery` command, run by spark-submit.

    spark-submit spark_apps/segment.py --date 2018-05-09 [--config grocery.yaml] [--json] ...

An entry takes the options of `grocery <stage>` and runs that command in the driver: the same stage
as on a laptop (the export of core.fct_sales when the lake lacks the warehouse's state of it, then the
job), in the session spark-submit made (`grocery.spark.session.launched_by_spark_submit`). The
pipeline spec comes from `--config`, else from the document in `$GROCERY_PIPELINE`, which is how
the SparkApplications and Livy batches of `grocery.airflow.manifests` hand it over (Livy cannot mount
a file), else from ./grocery.yaml or the defaults, as for `grocery`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from grocery.airflow.commands import PIPELINE_ENV
from grocery.cli import CONFIG_OPTIONS, app, handle_signals


def names_a_config(argv: list[str]) -> bool:
    """Whether the arguments give the spec file (`--config F`, `-c F`, `--config=F`)."""
    return any(arg in CONFIG_OPTIONS or arg.startswith("--config=") for arg in argv)


def stage_arguments(stage: str, argv: list[str], environ: Mapping[str, str], folder: Path) -> list[str]:
    """The `grocery` arguments of a stage's entry: its own, and `--config` naming the document of
    $GROCERY_PIPELINE, written into folder, when they name no file."""
    document = environ.get(PIPELINE_ENV)
    if not document or names_a_config(argv):
        return [stage, *argv]
    config = folder / f"{PIPELINE_ENV}.yaml"  # named so that an error in the document names its origin
    config.write_text(document)
    return [stage, *argv, "--config", str(config)]


def main(stage: str, argv: list[str] | None = None) -> None:
    """Run `grocery <stage>` with this process's arguments; exits with the command's status, and a
    SIGTERM (the driver pod deleted) or Ctrl-C stops it as it stops `grocery`. The folder of the
    handed-over spec goes with the command, however it ends but in a signal before or after the
    stage (the command then ends at once, `grocery.cli._raise_interrupt`)."""
    handle_signals()
    with tempfile.TemporaryDirectory(prefix=f"grocery-{stage}-") as folder:
        args = stage_arguments(stage, sys.argv[1:] if argv is None else argv, os.environ, Path(folder))
        app(args=args, prog_name=f"spark_apps/{stage}.py")
