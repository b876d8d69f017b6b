"""The command line a stage task runs: `grocery <stage> --start A --end B --home H --config F`.

Both execution modes run the same command: on the Airflow worker (local mode) it is a shell command
whose `--home` is the pipeline's folder in `$GROCERY_HOME`, read at run time; in a pod (kubernetes
mode) it is the container's arguments, with the pipeline file projected into the pod and the home on
its `/tmp`.

`START` and `END` are the first and last day a run processes, both included. A scheduled run (the
DAG's timetable is `CronDataIntervalTimetable`, see `grocery.airflow.factory`) covers the days of its
data interval, which is one cron period: from `{{ ds }}`, the day the interval starts, to the day
before the one it ends in, so each day goes to the run whose interval holds the midnight that ends it
(an @daily run covers D, an @weekly run its seven days, a @monthly run its month; a daily cron at
03:00 covers the day that ended three hours before, and no day twice). An interval in which no day
ends (@hourly, but for the hour before midnight) processes the day it starts in, again each hour as
the day's data grows. A run triggered for a logical date (a manual run, `dag.test()`) processes
that date's day: Airflow gives it the period before the date as its interval, whose days `ds` already
starts after. A run triggered with no logical date (the operator's `grocery.io/run-now`, the only runs
of a pipeline without a schedule) has no `ds` nor interval: it processes the last day over when it was
due (`dag_run.run_after`), as a daily run due then would.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

_DAY_BEFORE_RUN = "(dag_run.run_after - macros.timedelta(days=1)).strftime('%Y-%m-%d')"
_LAST_DAY = "(data_interval_end - macros.timedelta(days=1)).strftime('%Y-%m-%d')"
_START = f"(ds if ds is defined else {_DAY_BEFORE_RUN})"
# ISO dates compare as text; `max` keeps the end from falling before the start.
_END = f"(([ds, {_LAST_DAY}] | max) if ds is defined else {_DAY_BEFORE_RUN})"
START = "{{ " + _START + " }}"
END = "{{ " + _END + " }}"
START_NODASH = "{{ " + _START + " | replace('-', '') }}"  # YYYYMMDD
HOME_ENV = "GROCERY_HOME"
DEFAULT_LOCAL_HOME = "$HOME/.grocery"
# The pipeline document (YAML) handed to Spark jobs in their environment.
PIPELINE_ENV = "GROCERY_PIPELINE"
# Inside stage pods: the pipeline file (projected from a pod annotation) and the working folder.
POD_CONFIG_DIR = "/etc/grocery"
POD_CONFIG_FILE = f"{POD_CONFIG_DIR}/pipeline.yaml"
POD_HOME = "/tmp/grocery"


def interval_args() -> list[str]:
    """The days a run processes, as `grocery` takes them (rendered by Airflow for each run)."""
    return ["--start", START, "--end", END]


def stage_args(stage: str, *, home: str, config: str) -> list[str]:
    """The `grocery` arguments of one stage over the run's data interval."""
    return [stage, *interval_args(), "--home", home, "--config", config]


def grocery_executable() -> str:
    """The `grocery` command beside this Python (the environment Airflow runs in), else from PATH."""
    beside = Path(sys.executable).with_name("grocery")
    return str(beside) if beside.exists() else "grocery"


def local_home(pipeline_key: str) -> str:
    """A local-mode pipeline's home, as the worker's shell reads it: a folder of its own (named
    <namespace>__<name>) in `$GROCERY_HOME` (default ~/.grocery), so that two pipelines on one
    machine never share a lake or a warehouse."""
    return f'"${{{HOME_ENV}:-{DEFAULT_LOCAL_HOME}}}"/{shlex.quote(pipeline_key)}'


def local_command(stage: str, config: Path, pipeline_key: str) -> str:
    """The shell command of a local-mode task, run on the worker (`local_home`)."""
    args = stage_args(stage, home="@HOME@", config=str(config))
    quoted = " ".join(shlex.quote(a) if a not in (START, END, "@HOME@") else a for a in args)
    return f"{shlex.quote(grocery_executable())} {quoted.replace('@HOME@', local_home(pipeline_key))}"


def pod_args(stage: str) -> list[str]:
    """The container arguments of a stage pod (its command is `grocery`)."""
    return stage_args(stage, home=POD_HOME, config=POD_CONFIG_FILE)
