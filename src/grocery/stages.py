"""The stage registry: every stage listed once, in order.

The CLI (`grocery run`, `grocery <stage>`), the Airflow DAG factory (one task per stage), the
operator (per-stage status) and the Helm chart all read this list. A stage's code is named by a
dotted path and imported only when the stage runs, so reading the registry stays cheap (a DAG file
imports it on every parse).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from grocery.context import Context

Engine = Literal["python", "dbt", "spark"]


@dataclass(frozen=True)
class StageResources:
    """Default resources of a stage's pod (Kubernetes quantities)."""

    cpu: str = "500m"
    memory: str = "1Gi"


@dataclass(frozen=True)
class StageResult:
    """What a stage reports: a one-line summary and its figures."""

    summary: str
    metrics: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    engine: Engine
    entry: str  # "module:function" taking a Context and returning a StageResult
    resources: StageResources = StageResources()
    # "module:function" taking the run's Context and returning work that can run, in the
    # background, before the stage (imports, parsing); see `preload`.
    preload: str | None = None

    def load(self) -> Callable[[Context], StageResult]:
        return _function(self.entry)

    def run(self, ctx: Context) -> StageResult:
        return self.load()(ctx)


def _function(path: str) -> Callable:
    module, _, func = path.partition(":")
    return getattr(importlib.import_module(module), func)


STAGES: tuple[Stage, ...] = (
    Stage(
        "extract",
        "Fetch the raw files from the source into raw/, unchanged, with a manifest.",
        reads=("source",),
        writes=("raw/", "raw/_manifests/"),
        engine="python",
        entry="grocery.extract:run",
        resources=StageResources(cpu="500m", memory="512Mi"),
    ),
    Stage(
        "load",
        "Check every raw row against the contract; stage accepted rows, quarantine the rest, load both.",
        reads=("raw/",),
        writes=("staged/", "quarantine/", "warehouse:raw", "warehouse:quarantine"),
        engine="python",
        entry="grocery.load:run",
        resources=StageResources(cpu="1", memory="2Gi"),
    ),
    Stage(
        "transform",
        "dbt build: staging, dimensions, fct_sales and the sales marts, with their tests.",
        reads=("warehouse:raw",),
        writes=("warehouse:staging", "warehouse:core", "warehouse:marts"),
        engine="dbt",
        entry="grocery.transform:run",
        resources=StageResources(cpu="1", memory="2Gi"),
        preload="grocery.transform:preload",
    ),
    Stage(
        "segment",
        "Spark RFM: recency, frequency and monetary scores and a named segment for every customer.",
        reads=("warehouse:core", "exports/fct_sales/"),
        writes=("exports/fct_sales/", "analytics/customer_rfm/"),
        engine="spark",
        entry="grocery.segment:run",
        resources=StageResources(cpu="2", memory="6Gi"),
        preload="grocery.segment:preload",
    ),
    Stage(
        "recommend",
        "Spark ALS on purchase history: top-N per customer, evaluated on a holdout against popularity.",
        reads=("warehouse:core", "exports/fct_sales/"),
        writes=(
            "exports/fct_sales/",
            "analytics/recommendations/",
            "analytics/popular_products/",
            "analytics/recommendation_metrics/",
        ),
        engine="spark",
        entry="grocery.recommend:run",
        resources=StageResources(cpu="2", memory="6Gi"),
        preload="grocery.recommend:preload",
    ),
    Stage(
        "publish",
        "Load the Spark outputs into analytics and build the marts over them (dbt), with their tests.",
        reads=("analytics/",),
        writes=("warehouse:analytics", "warehouse:marts"),
        engine="dbt",
        entry="grocery.publish:run",
        resources=StageResources(cpu="1", memory="2Gi"),
        preload="grocery.transform:preload",
    ),
)

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def parse_names(text: str | None) -> list[str] | None:
    """The stage names of a comma-separated list (`--stages load,transform`); None when not given.

    A list that names no stage, or an unknown one, is an error.
    """
    from grocery.errors import ConfigError

    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(
            f"--stages {text!r} names no stage", hint=f"name some of: {', '.join(stage_names())}"
        )
    select(names)
    return names


def engine_packages(engine: Engine, warehouse_kind: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """What a stage of this engine imports, as (module, the distribution that holds it), and the
    extra of grocery-pipeline that installs them (pyproject.toml)."""
    if engine == "dbt":
        extra = "dbt" if warehouse_kind == "duckdb" else "dbt-bigquery"
        return (("dbt.cli", "dbt-core"), (f"dbt.adapters.{warehouse_kind}", f"dbt-{warehouse_kind}")), extra
    if engine == "spark":
        return (("pyspark", "pyspark"),), "spark"
    return (), ""


def check_ready(stages: list[Stage], warehouse_kind: str) -> None:
    """Fail in one line before the first stage runs, not after the stages before it: when a stage's
    engine is not installed, or a Spark stage would start a JVM without Java.

    Modules are looked up, not imported (pyspark on a cluster may come from SPARK_HOME, not pip)."""
    from importlib.util import find_spec

    from grocery.errors import ConfigError

    for stage in stages:
        packages, extra = engine_packages(stage.engine, warehouse_kind)
        for module, distribution in packages:
            try:
                found = find_spec(module) is not None
            except ModuleNotFoundError:  # its parent package is missing
                found = False
            if not found:
                raise ConfigError(
                    f"the {stage.name} stage runs on {stage.engine}, and {distribution} is not installed",
                    hint=f"pip install 'grocery-pipeline[{extra}]', or ./dev setup in a checkout",
                )
    if any(stage.engine == "spark" for stage in stages):
        from grocery.spark.session import launched_by_spark_submit, require_java

        if not launched_by_spark_submit():  # else the JVM is already running
            require_java()


def select(names: list[str] | None) -> list[Stage]:
    """The stages to run, in registry order; unknown names are an error that lists the known ones."""
    from grocery.errors import ConfigError

    if not names:
        return list(STAGES)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ConfigError(
            f"unknown stage {', '.join(unknown)}", hint=f"known stages: {', '.join(stage_names())}"
        )
    wanted = set(names)
    return [s for s in STAGES if s.name in wanted]


# Python's GIL switch interval while a preload runs (the default is 5 ms). dbt's import and parse are
# pure Python: each time a stage's DuckDB statement returns, the stage's thread waited up to a whole
# interval for the GIL. A day's load issues some hundred short statements; at 0.5 ms it took 1.2-1.5 s
# instead of 2.4-2.5 s (full-scale home, one more day, three interleaved pairs).
PRELOAD_SWITCH_INTERVAL = 0.0005


class Preloads:
    """The later stages' preload work, run in stage order by one background thread.

    While it runs, the GIL changes hands every `PRELOAD_SWITCH_INTERVAL`, so the stage in the
    foreground is not kept waiting by it."""

    def __init__(self, works: list[tuple[list[str], Callable[[], None]]]) -> None:
        self._done = {name: threading.Event() for names, _ in works for name in names}
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, PRELOAD_SWITCH_INTERVAL))
        self.thread = threading.Thread(target=self._run, args=(works,), name="grocery-preload", daemon=True)
        self.thread.start()

    def _run(self, works: list[tuple[list[str], Callable[[], None]]]) -> None:
        try:
            for names, work in works:
                try:
                    work()
                except Exception:  # left to fail again, with its error, when its stage runs
                    pass
                finally:
                    for name in names:
                        self._done[name].set()
        finally:
            sys.setswitchinterval(self._switch_interval)

    def wait(self, stage: str) -> None:
        """Return once the stage's preload is over (at once for a stage without one)."""
        done = self._done.get(stage)
        if done is not None:
            done.wait()


def preload(ctx: Context, stages: list[Stage]) -> Preloads | None:
    """Start the later stages' preload work in a background thread, while the first stage runs.

    For dbt that is its import and its parse, about 5 s in a fresh home, a third of the transform;
    for Spark, the JVM's start and a first run of the job on a few made-up sales. The stages before
    spend their time in DuckDB, the JVM or dbt, which leave a core or the GIL free much of the time.
    The caller waits for a stage's own preload before it runs the stage (`Preloads.wait`); stages
    that share a preload (transform and publish) share one run of it. Work that fails here is left
    to fail again, with its error, when its stage runs.
    """
    by_path: dict[str, list[str]] = {}
    for stage in stages[1:]:
        if stage.preload:
            by_path.setdefault(stage.preload, []).append(stage.name)
    works = []
    for path, names in by_path.items():
        with contextlib.suppress(Exception):
            works.append((names, _function(path)(ctx)))
    return Preloads(works) if works else None
