"""The `transform` stage: `dbt build` of the project in `dbt/` against the pipeline's warehouse.

Run by `grocery transform` (or `grocery run`) through the stage registry (`grocery.transform:run`).
The data interval reaches dbt as the environment variables `GROCERY_START_DATE`/`GROCERY_END_DATE`
(not `--vars`: a change of vars makes dbt re-parse the whole project). The models read them when
they run, not when they are parsed (dbt/macros/sales_interval.sql), so a run of a new day reuses the
parse of the day before. With them the incremental models replace exactly those sales days; empty
means everything is rebuilt. Models and data tests run in one `dbt build`; any failure becomes a
one-line `StageError` naming the failed nodes. dbt's unit tests check the SQL, not the data, so as
dbt recommends they run in the test suite (`build(ctx, unit_tests=True)`) rather than in every
pipeline run. Other stages that run dbt call `dbt_build(ctx, extra_args=["--selector", ...])`, which
carries all of this plumbing.

A day's delivery usually repeats the dimension files of the day before. An interval run whose
dimensions are unchanged builds only what follows from the sales (the `sales` selector): the
dimension models and their tests, about two fifths of the build's nodes, are left as they are.
Unchanged means that every dimension in `raw` holds the same deliveries as when the dimension models
were last built, a new delivery that repeats the rows of the one before it aside, and that the same
dbt project builds them (`dimensions_fingerprint`, kept in the warehouse's state after every build of
the dimensions that passed; a build that fails forgets it). A late delivery of an older day counts as
a change: the dimensions keep every member any delivery has listed.
Runs over everything always build everything.

When an interval run does rebuild the dimensions, it builds them first (the `dimensions` selector),
then what follows from the sales. The day-grain marts (mart_sales_summary, mart_daily_category_sales,
...) keep the names and groups the members of each day's lines had when the day was built: a
customer's city, a product's category, an employee's name. So every day with a line of a customer,
product or employee whose kept columns the rebuild changed (`changed_member_days`: those columns of
each member hashed before and after) is replaced as well, and the marts agree with a build over
everything. New members, and changes of other columns (a price, an address), change no day. The
hashes as they were are kept in the warehouse (`staging.transform_dimension_members`) until the run
passes: a run that fails after rebuilding the dimensions leaves the next run the same days.

An interval run also replaces, beyond its days, every day whose lines in `core.fct_sales` are not
the lines staging prices from the deliveries (`stale_sales_days`, passed to dbt as
GROCERY_EXTRA_DATES; dbt/macros/sales_interval.sql): a day a late line (or an export of more days
than the interval) brought lines to, a day one of whose lines a later delivery changed or moved (and
the day it moved to), a day whose line a day delivered again withdrew. So the fact always holds
what the deliveries hold, never a line twice, and no line is left for a run over its day. Finding
them compares the fact with staging day by day (about a second at full scale on two shared cores)
only when a delivery of sales, or of the products that price it, has changed or gone since the last
transform that passed; the usual day brings a new delivery only, only its lines can differ, and
looking them up takes 50-100 ms (and 0.1 s to fingerprint the deliveries). What the last transform
that passed was built from (`sales_deliveries`) is kept in the warehouse's state (`SALES_STATE`),
with the days a build that did not pass (failed, or was stopped) still owes: it may have replaced
them in the fact and not in the marts after it. Until a build of the fact has passed, and after a
build over everything that did not, an interval run builds over everything.

dbt's artifacts and logs go under `<home>/dbt/` (partial parsing reuses them from run to run), so the
repository stays clean and two pipelines never share them. dbt's console output stays off unless
`GROCERY_DBT_LOG_LEVEL` (debug, info, warn, error) asks for it. `GROCERY_DBT_PROJECT_DIR` points at
another dbt project folder than the repository's `dbt/`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grocery.errors import StageError, interrupt_behind
from grocery.interval import DataInterval
from grocery.stages import StageResult
from grocery.tables import DIMENSIONS, INGEST_DATE, PRODUCTS, SALES, TABLES

if TYPE_CHECKING:
    from grocery.context import Context

PROJECT_DIR_ENV = "GROCERY_DBT_PROJECT_DIR"
LOG_LEVEL_ENV = "GROCERY_DBT_LOG_LEVEL"
_FAILED = {"error", "fail", "runtime error"}
_SLOWEST = 6  # nodes named in a build's metrics
_MAX_MESSAGE = 160
_MAX_NAMED = 5
# What dbt says when an incremental model's table has other columns than its SQL (on_schema_change='fail').
_SCHEMA_DRIFT = "schemas on this incremental model are out of sync"
# The warehouse state (`Warehouse.read_state`) naming what the dimension models were last built from.
DIMENSIONS_STATE = "transform.dimensions"
SALES_SELECTOR = "sales"  # dbt/selectors.yml: what follows from the sales, without the dimensions
# The warehouse state naming the sales deliveries fct_sales was last built from, and the extra days
# a failed build left to replace (`stale_sales_days`).
SALES_STATE = "transform.sales"
# Days outside the interval that a run replaces too (dbt/macros/sales_interval.sql), comma-separated.
EXTRA_DATES_ENV = "GROCERY_EXTRA_DATES"
# How many products mart_recommend gives a customer: models.als.topN.
RECOMMEND_TOP_N_ENV = "GROCERY_RECOMMEND_TOP_N"
# The SALES_STATE pending value of a build over everything that did not pass (else a list of days).
EVERYTHING_OWED = "everything"
# The columns of core.fct_sales (dbt/models/core/fct_sales.sql), each as staging's priced lines have
# it (int_sales_priced): a line that differs in any of them is stale in the fact.
FACT_COLUMNS = (
    "sales_id", "transaction_number", "sales_at", "sales_date", "customer_id", "employee_id",
    "product_id", "quantity", "discount", "unit_price", "gross_revenue", "net_revenue",
)  # fmt: skip
_NAMED_DAYS = 5  # extra days named in a summary
DIMENSIONS_SELECTOR = "dimensions"  # dbt/selectors.yml: the dimension models and their tests
# The dimension models that fact lines name a member of, by the fact's key (dbt/models/core), and the
# columns of a member the day-grain marts keep on each day (dbt/models/marts: mart_sales_summary,
# mart_daily_category_sales, mart_product_daily_sales, mart_employee_daily_sales). dim_geography
# reaches them through dim_customers, which carries the names of its city and country. A change of
# any other column (a price, an address) changes no day.
DIMENSION_KEYS = {
    "dim_customers": ("customer_id", ("city_id", "city_name", "country_name")),
    "dim_products": ("product_id", ("product_name", "category_id", "category_name")),
    "dim_employees": ("employee_id", ("full_name",)),
}
# Each member's hash of its kept columns as the marts were built with, kept while an interval run
# rebuilds the dimensions.
MEMBERS_BEFORE = ("staging", "transform_dimension_members")
# Folders of a dbt project folder that dbt writes itself (when run there by hand): not the project.
_NOT_PROJECT = frozenset({"target", "logs", "dbt_packages", "__pycache__"})


def project_dir() -> Path:
    """The dbt project folder: `GROCERY_DBT_PROJECT_DIR`, else `dbt/` beside the package's source tree."""
    override = os.environ.get(PROJECT_DIR_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "dbt"
    if not (path / "dbt_project.yml").is_file():
        raise StageError(
            f"no dbt project (dbt_project.yml) in {path}",
            hint=f"set {PROJECT_DIR_ENV} to the folder of the grocery dbt project",
        )
    return path


INTERVAL_ENV = ("GROCERY_START_DATE", "GROCERY_END_DATE")


def interval_env(interval: DataInterval) -> dict[str, str]:
    """The environment that carries a data interval to dbt (macros/sales_interval.sql): ISO dates,
    or both empty for everything."""
    if interval.is_everything:
        return dict.fromkeys(INTERVAL_ENV, "")
    assert interval.start and interval.end
    return dict(zip(INTERVAL_ENV, (interval.start.isoformat(), interval.end.isoformat()), strict=True))


def build_args(
    target: str, project: Path, work: Path, log_level: str, unit_tests: bool, command: str = "build"
) -> list[str]:
    """The command line of `dbt build` for one run (or of `dbt parse`, for the same project state)."""
    excluded = [] if unit_tests or command != "build" else ["--exclude-resource-type", "unit_test"]
    return [
        command,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target", target,
        "--target-path", str(work / "target"),
        "--log-path", str(work / "logs"),
        "--log-level", log_level,
        "--log-level-file", "info",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
        # The results come back through the Python API: skip writing manifest.json and run_results.json (~1 s).
        "--no-write-json",
        *excluded,
    ]  # fmt: skip


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for dbt's `env_var()` while it runs, then put the old ones back."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def _one_line(text: object) -> str:
    """A message squeezed onto one short line."""
    line = re.sub(r"\s+", " ", str(text)).strip()
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."


def _status(result: Any) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def _describe_failure(result: Any) -> str:
    node = result.node
    kind = str(getattr(node.resource_type, "value", node.resource_type)).replace("_", " ")
    if _status(result) == "fail" and result.failures:
        detail = f"{result.failures} failing row{'s' if result.failures != 1 else ''}"
    else:
        detail = _one_line(result.message or _status(result))
    return f"{kind} {node.name} ({detail})"


def _release_duckdb() -> None:
    """Close the database dbt-duckdb keeps open after a run, so its file lock goes with the run."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing was opened
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def _progress_callback(ctx: Context):
    """A dbt event callback that prints one line per finished model, and every failure."""

    def callback(event: Any) -> None:
        if event.info.name != "NodeFinished":
            return
        info = event.data.node_info
        status = (info.node_status or "").lower()
        if info.resource_type == "model" or status in _FAILED:
            seconds = event.data.run_result.execution_time
            ctx.progress.info(f"  {info.resource_type} {info.node_name}: {status} ({seconds:.1f}s)")

    return callback


@dataclass(frozen=True)
class DbtRun:
    """What one successful `dbt build` did."""

    models: int
    tests: int
    unit_tests: int
    warnings: int
    dbt_seconds: float  # the `dbt build` invocation alone
    slowest: dict[str, float]  # the slowest models and tests, by name: where a build's time goes

    def then(self, later: DbtRun) -> DbtRun:
        """This build and a later one, as one."""
        slowest = sorted({**self.slowest, **later.slowest}.items(), key=lambda item: -item[1])
        return DbtRun(
            models=self.models + later.models,
            tests=self.tests + later.tests,
            unit_tests=self.unit_tests + later.unit_tests,
            warnings=self.warnings + later.warnings,
            dbt_seconds=round(self.dbt_seconds + later.dbt_seconds, 2),
            slowest=dict(slowest[:_SLOWEST]),
        )


@dataclass(frozen=True)
class _Invocation:
    """What every dbt command of a run shares: target, folders, log level and environment."""

    target: str
    work: Path
    log_level: str
    env: dict[str, str]

    @classmethod
    def of(cls, ctx: Context, extra_dates: Sequence[date] = (), everything: bool = False) -> _Invocation:
        target, env = ctx.warehouse.dbt_target()
        return cls(
            target=target,
            work=(Path(ctx.home) / "dbt").resolve(),
            log_level=os.environ.get(LOG_LEVEL_ENV, "none"),
            env={
                **env,
                **interval_env(DataInterval.everything() if everything else ctx.interval),
                EXTRA_DATES_ENV: ",".join(day.isoformat() for day in extra_dates),
                RECOMMEND_TOP_N_ENV: str(ctx.spec.models.als.top_n),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
        )

    def args(self, unit_tests: bool = False, command: str = "build") -> list[str]:
        return build_args(self.target, project_dir(), self.work, self.log_level, unit_tests, command)


def preload(ctx: Context) -> Callable[[], None]:
    """What `grocery.stages.preload` runs in the background, before the stage, in a run of several
    stages: import dbt, then `dbt parse` with the stage's own arguments and environment.

    The parse writes dbt's partial-parse state in HOME/dbt/target, so the stage's `dbt build` reads
    it instead of parsing the project (a full parse takes 4 s in a fresh home). It opens no
    connection. Anything that fails here is left to the stage, which reports it.
    """
    invocation = _Invocation.of(ctx)  # read from the context here, in the caller's thread

    def work() -> None:
        from dbt.cli.main import dbtRunner

        with _environment(invocation.env):
            dbtRunner().invoke(invocation.args(command="parse"))

    return work


def dbt_build(
    ctx: Context,
    *,
    extra_args: Sequence[str] = (),
    unit_tests: bool = False,
    label: str = "dbt build",
    extra_dates: Sequence[date] = (),
    everything: bool = False,
) -> DbtRun:
    """Run `dbt build` (plus `extra_args`, e.g. a selector) on the context's warehouse and interval,
    whose incremental models replace `extra_dates` as well (days outside the interval); over
    everything instead, whatever the context's interval, with `everything`.

    Raises StageError with one line naming the failed nodes (`label` opens it) when anything fails.
    """
    from dbt.cli.main import dbtRunner

    invocation = _Invocation.of(ctx, extra_dates, everything)
    ctx.close()  # dbt opens the warehouse itself: release the DuckDB file lock first.
    args = [*invocation.args(unit_tests), *extra_args]
    hint = f"see {invocation.work / 'logs' / 'dbt.log'}"

    started = time.perf_counter()
    with _environment(invocation.env):
        try:
            outcome = dbtRunner(callbacks=[_progress_callback(ctx)]).invoke(args)
        finally:
            _release_duckdb()
    dbt_seconds = round(time.perf_counter() - started, 2)

    # dbt catches a Ctrl-C and ends its run there; closing the connections still in use, it may
    # raise another error in its place ("Connection already closed"), which carries it along.
    if interrupt_behind(outcome.exception) is not None:
        raise outcome.exception
    if outcome.result is None or not hasattr(outcome.result, "results"):
        raise StageError(f"{label} failed before running anything: {_one_line(outcome.exception)}", hint=hint)
    results = outcome.result.results
    failed = [r for r in results if _status(r) in _FAILED]
    if failed or not outcome.success:
        named = "; ".join(_describe_failure(r) for r in failed[:_MAX_NAMED]) or _one_line(outcome.exception)
        more = f"; {len(failed) - _MAX_NAMED} more failed" if len(failed) > _MAX_NAMED else ""
        skipped = sum(1 for r in results if _status(r) == "skipped")
        more += f"; {skipped} skipped" if skipped else ""
        drifted = [r.node.name for r in failed if _SCHEMA_DRIFT in str(r.message or "")]
        if drifted:  # built by another version of the models (an upgrade): a run over everything rebuilds
            hint = (
                f"{', '.join(drifted)} in the warehouse has other columns than the models now make: run "
                f"`grocery transform` without --date/--start/--end to rebuild from everything; {hint}"
            )
        raise StageError(f"{label} failed ({ctx.interval}): {named}{more}", hint=hint)

    def count(resource_type: str) -> int:
        return sum(1 for r in results if str(getattr(r.node.resource_type, "value", "")) == resource_type)

    return DbtRun(
        models=count("model"),
        tests=count("test"),
        unit_tests=count("unit_test"),
        warnings=sum(1 for r in results if _status(r) == "warn"),
        dbt_seconds=dbt_seconds,
        slowest={
            r.node.name: round(r.execution_time, 2)
            for r in sorted(results, key=lambda r: -r.execution_time)[:_SLOWEST]
        },
    )


def project_fingerprint(project: Path, target: str) -> str:
    """A digest of the dbt project's files and of the dbt versions that build it for a target."""
    digest = hashlib.sha256()
    for package in ("dbt-core", f"dbt-{target}"):
        try:
            digest.update(f"{package}=={metadata.version(package)}\n".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing\n".encode())
    files = (
        path
        for path in project.rglob("*")
        if path.is_file() and not _NOT_PROJECT & set(path.relative_to(project).parts[:-1])
    )
    for path in sorted(files):
        digest.update(f"{path.relative_to(project).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def dimensions_fingerprint(ctx: Context) -> str | None:
    """What building the dimension models now would start from: the dbt project, and the deliveries
    of every dimension table in `raw` (`Warehouse.snapshot_fingerprint`). None while a table is missing."""
    snapshots = ctx.warehouse.snapshot_fingerprint(DIMENSIONS)
    if snapshots is None:
        return None
    target, _ = ctx.warehouse.dbt_target()
    return hashlib.sha256(f"{project_fingerprint(project_dir(), target)}\n{snapshots}".encode()).hexdigest()


def sales_deliveries(ctx: Context) -> dict[str, list[int]] | None:
    """Each delivery of `raw.sales` by ingest date: [its lines, the XOR of a hash of each line, the
    XOR of a hash of each product of the same delivery, which prices its lines (0 without)]. A scan
    of raw.sales (about 0.1 s at full scale on DuckDB). None before any load."""
    warehouse = ctx.warehouse
    try:
        sales = warehouse.query(warehouse.deliveries_query(SALES, [c.name for c in SALES.columns]))
        products = warehouse.query(warehouse.deliveries_query(PRODUCTS, [c.name for c in PRODUCTS.columns]))
    except warehouse.missing_relation:
        return None
    prices = {r["d"]: int(r["h"]) for r in products}
    return {r["d"].isoformat(): [int(r["n"]), int(r["h"]), prices.get(r["d"], 0)] for r in sales}


def stale_sales_days(
    ctx: Context, deliveries: Mapping[str, list[int]], built_from: Mapping[str, list[int]] | None
) -> set[date]:
    """The days on which `core.fct_sales` is not what the deliveries make of them: the days of lines
    staging holds and the fact does not (a late arrival, or a day of a delivery no run covered yet),
    of lines the fact holds and staging does not (withdrawn by a day delivered again), and of lines
    the two hold otherwise (changed by a later delivery: its quantity, its price, its date; both the
    day it left and the day it came to).

    `built_from` is `sales_deliveries` when the fact was last built (None: unknown), and that build
    left the fact as staging had it. Lines can only have gone stale through deliveries that changed
    since. When only new ones came (the usual day), only their lines can differ, and only those are
    looked up in the fact. When a delivery known then changed or went, or nothing is known, the fact
    and staging are compared day by day (a count and a fingerprint of each day's lines). The fact
    must exist (`build` builds everything before it does).
    """
    warehouse = ctx.warehouse
    fct_sales = warehouse.relation("core", "fct_sales")
    priced = warehouse.relation("staging", "int_sales_priced")
    if built_from is not None and all(deliveries.get(day) == value for day, value in built_from.items()):
        new = sorted(set(deliveries) - set(built_from))
        if not new:
            return set()
        days = ", ".join(f"date '{day}'" for day in new)
        differs = " or ".join(f"staged.{column} is distinct from fct.{column}" for column in FACT_COLUMNS)
        rows = warehouse.query(
            "select distinct fct.sales_date as before, staged.sales_date as now "
            f"from {priced} as staged left join {fct_sales} as fct on fct.sales_id = staged.sales_id "
            f"where staged.{INGEST_DATE} in ({days}) and (fct.sales_id is null or {differs})"
        )
        return {day for r in rows for day in (r["before"], r["now"]) if day is not None}
    fingerprint = f"count(*) as n, bit_xor({warehouse.row_hash(FACT_COLUMNS)}) as h"
    rows = warehouse.query(
        f"with staged as (select sales_date, {fingerprint} from {priced} where has_sales_date group by sales_date), "
        f"fct as (select sales_date, {fingerprint} from {fct_sales} group by sales_date) "
        "select coalesce(staged.sales_date, fct.sales_date) as d "
        "from staged full join fct on staged.sales_date = fct.sales_date "
        "where staged.n is distinct from fct.n or staged.h is distinct from fct.h"
    )
    return {r["d"] for r in rows}


def _members_query(ctx: Context) -> str:
    """Each member of the DIMENSION_KEYS models: its key's name, its key and a hash of the columns
    the day-grain marts keep."""
    warehouse = ctx.warehouse
    return " union all ".join(
        f"select '{key}' as key_column, {key} as k, {warehouse.row_hash(kept)} as h "
        f"from {warehouse.relation('core', model)}"
        for model, (key, kept) in DIMENSION_KEYS.items()
    )


def keep_members(ctx: Context) -> None:
    """Before the dimension models are rebuilt: each member's hash of its kept columns, as the marts
    were built with. Left as it is when a run that did not pass kept it (it may have rebuilt them
    already)."""
    ctx.warehouse.query(
        f"create table if not exists {ctx.warehouse.relation(*MEMBERS_BEFORE)} as {_members_query(ctx)}"
    )


def _forget_members(ctx: Context) -> None:
    ctx.warehouse.query(f"drop table if exists {ctx.warehouse.relation(*MEMBERS_BEFORE)}")


def changed_member_days(ctx: Context) -> set[date]:
    """The days of `core.fct_sales` with a line whose customer, product or employee has other values
    in the columns the day-grain marts keep now than when `keep_members` kept them (a member that is
    new changes no day)."""
    warehouse = ctx.warehouse
    changed = (
        f"select before.key_column, before.k from {warehouse.relation(*MEMBERS_BEFORE)} as before "
        f"join ({_members_query(ctx)}) as now on now.key_column = before.key_column and now.k = before.k "
        "where now.h <> before.h"
    )
    named = " or ".join(
        f"{key} in (select k from changed where key_column = '{key}')" for key, _ in DIMENSION_KEYS.values()
    )
    rows = warehouse.query(
        f"with changed as ({changed}) "
        f"select distinct sales_date as d from {warehouse.relation('core', 'fct_sales')} where {named}"
    )
    return {r["d"] for r in rows}


def _read_sales_state(ctx: Context) -> dict[str, Any]:
    value = ctx.warehouse.read_state(SALES_STATE)
    return json.loads(value) if value else {"deliveries": None, "pending": []}


def _extra_dates(
    ctx: Context, deliveries: Mapping[str, list[int]] | None, state: Mapping[str, Any]
) -> list[date]:
    """The days outside the interval that this interval run replaces too: `stale_sales_days`, and
    those a build that did not pass still owes."""
    if deliveries is None:
        return []
    found = stale_sales_days(ctx, deliveries, state["deliveries"])
    found |= {date.fromisoformat(day) for day in state["pending"]}
    assert ctx.interval.start and ctx.interval.end
    return sorted(day for day in found if not ctx.interval.start <= day <= ctx.interval.end)


def _owe(ctx: Context, state: Mapping[str, Any], owed: list[str] | str) -> None:
    """Remember what a build replaces (its days, or `EVERYTHING_OWED`) as owed until it passes: one
    that fails or is stopped halfway may have replaced them in the fact and not yet in the marts
    after it, which the fact alone no longer shows."""
    if owed != state["pending"]:
        ctx.warehouse.write_state(
            SALES_STATE, json.dumps({"deliveries": state["deliveries"], "pending": owed})
        )


def _named_days(days: Sequence[date]) -> str:
    named = ", ".join(day.isoformat() for day in days[:_NAMED_DAYS])
    return named + (f" and {len(days) - _NAMED_DAYS} more" if len(days) > _NAMED_DAYS else "")


def build(ctx: Context, *, unit_tests: bool = False) -> StageResult:
    """`dbt build` of models and data tests (and unit tests if asked) over the context's interval.

    On an interval run whose dimensions are unchanged since their last build, only what follows from
    the sales is built (see the module's docstring)."""
    fingerprint = dimensions_fingerprint(ctx)
    if fingerprint is None:  # a dimension's raw table is missing: a home that was never loaded?
        missing = [f"raw.{table.name}" for table in TABLES if not ctx.warehouse.exists("raw", table.name)]
        if missing:
            what = "raw tables" if len(missing) == len(TABLES) else ", ".join(missing)
            raise StageError(f"the warehouse has no {what} yet", hint="run `grocery load` first")
    # Before a build of the fact has passed, no day of it is built to keep: an interval run builds
    # every day, as a run over everything does (the fact must hold every dated line the deliveries
    # hold); so does the run after a build over everything that did not pass.
    state = _read_sales_state(ctx)
    built = ctx.warehouse.exists("core", "fct_sales")
    first = not ctx.interval.is_everything and (
        not built or state["deliveries"] is None or state["pending"] == EVERYTHING_OWED
    )
    everything = ctx.interval.is_everything or first
    keep_dimensions = (
        not unit_tests
        and not everything
        and fingerprint is not None
        and ctx.warehouse.read_state(DIMENSIONS_STATE) == fingerprint
    )
    deliveries = sales_deliveries(ctx)
    extra = [] if everything else _extra_dates(ctx, deliveries, state)
    days = [] if everything else [*ctx.interval.days(), *extra]
    owed = built and deliveries is not None  # (before the fact's first build its state says so anyway)
    if owed:
        _owe(ctx, state, EVERYTHING_OWED if everything else sorted({day.isoformat() for day in days}))
    by_members: list[date] = []
    if keep_dimensions:
        done = dbt_build(ctx, extra_args=["--selector", SALES_SELECTOR], extra_dates=extra)
    else:
        # Forgotten first: a build that fails halfway may leave the dimensions neither old nor new.
        ctx.warehouse.write_state(DIMENSIONS_STATE, None)
        if everything or not all(ctx.warehouse.exists("core", model) for model in DIMENSION_KEYS):
            done = dbt_build(ctx, unit_tests=unit_tests, extra_dates=extra, everything=first)
            _forget_members(ctx)  # every day built with these dimensions
        else:  # the dimensions first, then every day whose members they changed with the sales
            keep_members(ctx)
            done = dbt_build(
                ctx, extra_args=["--selector", DIMENSIONS_SELECTOR], unit_tests=unit_tests,
                label="dbt build of the dimensions",
            )  # fmt: skip
            by_members = sorted(changed_member_days(ctx) - set(days))
            if owed and by_members:
                _owe(ctx, state, sorted({day.isoformat() for day in [*days, *by_members]}))
            sales = dbt_build(
                ctx, extra_args=["--selector", SALES_SELECTOR], unit_tests=unit_tests,
                extra_dates=sorted([*extra, *by_members]),
            )  # fmt: skip
            done = done.then(sales)
            _forget_members(ctx)
        if fingerprint is not None:
            ctx.warehouse.write_state(DIMENSIONS_STATE, fingerprint)
    if deliveries is not None:  # what the fact is now built from, every extra day replaced
        ctx.warehouse.write_state(SALES_STATE, json.dumps({"deliveries": deliveries, "pending": []}))
    fct_rows = ctx.warehouse.count("core", "fct_sales")
    ctx.close()
    unit = f", {done.unit_tests} unit tests" if done.unit_tests else ""
    also = (
        f"; also rebuilt {len(extra)} day{'s' if len(extra) != 1 else ''} outside it, whose sales the "
        f"deliveries added to, changed or withdrew: {_named_days(extra)}"
        if extra
        else ""
    )
    if by_members:
        also += (
            f"{'; and' if extra else '; also rebuilt'} {len(by_members)} day{'s' if len(by_members) != 1 else ''} "
            "whose lines' customers, products or salespeople the new dimensions moved or renamed: "
            f"{_named_days(by_members)}"
        )
    kept = "; dimensions unchanged, left as built" if keep_dimensions else ""
    if first:
        why = "a build over everything that did not pass owed it" if built else "the fact's first build"
        also = f"; every day the deliveries hold built: {why}"
    return StageResult(
        summary=(
            f"dbt build ({ctx.interval}): {done.models} models, {done.tests} tests{unit} passed; "
            f"fct_sales has {fct_rows:,} rows{also}{kept}"
        ),
        metrics={
            **asdict(done),
            "fct_sales_rows": fct_rows,
            "dimensions_rebuilt": not keep_dimensions,
            "first_build": first,
            "extra_dates": [day.isoformat() for day in extra],
            "member_dates": [day.isoformat() for day in by_members],
        },
    )


def run(ctx: Context) -> StageResult:
    """The stage: `dbt build` of models and data tests over the context's interval."""
    return build(ctx)
