"""What a pipeline home holds, for `grocery status`: the question a data engineer asks before the
next run, and after one that went wrong.

- deliveries: every ingest date the lake has a manifest for (extract), the latest in detail: its
  sales lines landed and, per ingest date, the rows of every table in `raw` and in `quarantine`
  (load), or that it was never loaded, or that the warehouse holds an earlier landing of it (load
  records which one it loaded: `grocery.extract.LOADED_STATE`), or that load cannot load it (a file
  of the dataset's missing or empty: extract must land it again);
- the days between the first and the last delivery that none covers: neither the ingest date of
  one nor a day its sales lines are on (a backfill to run);
- the last sales date in `raw.sales` and the extent of `core.fct_sales` (transform), and the sales
  deliveries loaded since the fact was built: transform records what it built it from
  (`grocery.transform.SALES_STATE`), which one scan of `raw.sales` compares with what it holds;
- the latest run date of the Spark outputs in the lake (segment, recommend) and the customers in
  `marts.mart_customer_segments` (publish), and where the dashboard is.

Reading it changes nothing: a warehouse that does not exist is not created, a home never run says
so. It reads the lake and the warehouse of any spec, local or on Google Cloud, through the same
adapters as the stages.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from grocery import lake as layout
from grocery.context import Context
from grocery.errors import StageError
from grocery.extract import LOADED_STATE, extract_again, landing_fingerprint, read_manifest
from grocery.tables import SALES, TABLES
from grocery.transform import EVERYTHING_OWED, SALES_STATE, sales_deliveries

SHOWN_DELIVERIES = 10  # the latest deliveries shown in detail (each is a manifest to read)
SPARK_OUTPUTS = {"segment": "customer_rfm", "recommend": "recommendations"}  # stage: analytics table
_NAMED_DAYS = 5  # missing days named before "and N more"


@dataclass(frozen=True)
class Delivery:
    """One ingest date: what extract landed, and what load made of it (None: never loaded)."""

    ingest_date: date
    files: int | None  # None when its manifest cannot be read
    sales_lines: int | None  # data lines of its sales file, None without one
    accepted: int | None = None  # rows in raw.*, every table
    quarantined: int | None = None  # rows in quarantine.*, every table
    damaged: str | None = None  # why its manifest cannot be read
    superseded: bool = False  # the rows loaded are of an earlier landing: this one was never loaded
    unloadable: str | None = None  # why load cannot load this landing (a file missing or empty)
    # The command that lands it again, from its manifest (`grocery.extract.extract_again`).
    extract_again: str | None = None

    @property
    def loaded(self) -> bool:
        """Whether the warehouse has rows of the ingest date (of this landing or, superseded, another)."""
        return self.accepted is not None


@dataclass(frozen=True)
class Status:
    lake: str
    warehouse: str
    ingest_dates: list[date]  # every delivery, oldest first
    deliveries: list[Delivery]  # the latest SHOWN_DELIVERIES, newest first
    raw_sales_last: date | None  # the last sales date loaded into raw.sales
    fct_sales: dict[str, Any] | None  # rows, first and last sales_date; None before a transform
    spark_runs: dict[str, date | None]  # stage: its output's latest run date in the lake
    segmented_customers: int | None  # rows of marts.mart_customer_segments; None before publish
    dashboard: str | None
    working: str | None = None  # the grocery command working in the home now
    warehouse_unreadable: str | None = None  # why the warehouse could not be read (held by that command)
    sales_days: frozenset[date] = frozenset()  # the days raw.sales has lines on (not in the JSON)
    # The ingest dates whose sales (or the products pricing them) were loaded, changed or withdrawn
    # since core.fct_sales was last built; None when what it was built from is not known.
    unmodelled: list[date] | None = None
    # The days a transform that did not pass left to replace, or "everything" (`EVERYTHING_OWED`).
    owed: list[date] | str = field(default_factory=list)
    missing_days: list[date] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "missing_days", days_without_delivery(self.ingest_dates, self.sales_days))

    @property
    def empty(self) -> bool:
        return not self.ingest_dates and self.fct_sales is None

    def next_steps(self) -> list[str]:
        """What to run to bring the home up to date, and where to look, one line each."""
        if self.working:
            return [f"wait for the command working in this home ({self.working}) to end, then ask again"]
        if self.empty:
            return ["nothing here yet: run `grocery run` (or `grocery extract`) with this --home"]
        steps = [step for d in self.deliveries if (step := _delivery_step(d))]
        fct_last = self.fct_sales["last"] if self.fct_sales else None
        if self.raw_sales_last and not fct_last:
            steps.append("nothing is modelled yet: run `grocery transform`")
        elif self.owed == EVERYTHING_OWED:
            steps.append("a transform over everything did not pass: run `grocery transform` again")
        elif self.unmodelled or self.owed:
            steps.append(self._transform_step())
        elif self.unmodelled is None and self.raw_sales_last and fct_last and self.raw_sales_last > fct_last:
            steps.append(
                f"raw.sales holds sales up to {self.raw_sales_last}, core.fct_sales up to {fct_last}: "
                f"run `grocery transform --start {fct_last + timedelta(1)} --end {self.raw_sales_last}`"
            )
        spark = [day for day in self.spark_runs.values() if day]
        if spark and fct_last and min(spark) < fct_last:
            steps.append(
                f"the Spark outputs are of {min(spark)}, core.fct_sales has sales up to {fct_last}: "
                f"run `grocery run --stages segment,recommend,publish --date {fct_last}`"
            )
        latest = self.deliveries[0] if self.deliveries else None
        if latest and latest.quarantined:
            steps.append(
                f"ingest_date={latest.ingest_date} has {latest.quarantined:,} quarantined rows: "
                f"`grocery quarantine --date {latest.ingest_date}` shows them with their reasons"
            )
        if self.missing_days:
            steps.append(
                f"{len(self.missing_days)} day(s) between the first and the last delivery have none "
                f"({name_days(self.missing_days)}): `grocery run --date D` delivers one"
            )
        return steps

    def _transform_step(self) -> str:
        """What transform has to catch up on: an interval run replaces, beyond its days, every day
        the deliveries changed since the fact was built and every day a failed build owes
        (`grocery.transform.stale_sales_days`), so one run of the latest such day does it all."""
        why = []
        if self.unmodelled:
            why.append(
                "sales loaded but not modelled: raw.sales has deliveries core.fct_sales was not built "
                f"from (ingest_date {name_days(self.unmodelled)})"
            )
        if self.owed:
            why.append(f"a transform that did not pass left {name_days(list(self.owed))} to rebuild")
        latest = max([*(self.unmodelled or []), *self.owed])
        return f"{'; '.join(why)}: run `grocery transform --date {latest}`"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["sales_days"]
        data["next_steps"] = self.next_steps()
        return data


def _delivery_step(d: Delivery) -> str | None:
    """What to run for one delivery, if anything."""
    day = d.ingest_date
    again = d.extract_again or extract_again(day)
    if d.damaged:
        return f"{d.damaged}: run {again} again"
    if d.unloadable:  # load would stop on it, whatever was loaded before
        return (
            f"ingest_date={day} was landed with {d.unloadable}, which load cannot load: fix the delivery, "
            f"land it again with {again}, then run `grocery load --date {day}`"
        )
    if not d.loaded:
        return f"ingest_date={day} was landed but never loaded: run `grocery load --date {day}`"
    if d.superseded:
        return (
            f"ingest_date={day} was landed again after its last load, and the warehouse holds the "
            f"earlier landing: run `grocery load --date {day}`"
        )
    return None


def days_without_delivery(ingest_dates: list[date], sales_days: frozenset[date] = frozenset()) -> list[date]:
    """The days after the first delivery and before the last that none covers: neither an ingest
    date nor a day with sales lines (a delivery of several days, `--start A --end B`, covers them
    under its last day's ingest date)."""
    landed = set(ingest_dates)
    if not landed:
        return []
    first, last = min(landed), max(landed)
    days = (first + timedelta(n) for n in range(1, (last - first).days))
    return [day for day in days if day not in landed and day not in sales_days]


def name_days(days: list[date]) -> str:
    named = ", ".join(d.isoformat() for d in days[:_NAMED_DAYS])
    return named + (f" and {len(days) - _NAMED_DAYS} more" if len(days) > _NAMED_DAYS else "")


def collect(ctx: Context, working: str | None = None) -> Status:
    """The status of the context's home (its lake and warehouse), read only. `working` names the
    grocery command working in the home now: a warehouse only one process may open (DuckDB) is left
    alone then, so that the status never stands in that command's way, and the status says so."""
    lake_made = layout.exists_without_making(ctx.lake_uri)  # Lake(uri) makes a local lake's folder
    ingest_dates = ctx.ingest_dates() if lake_made and ctx.lake.exists(layout.MANIFESTS) else []
    facts, unreadable = _WarehouseFacts(), None
    if working and not ctx.warehouse.shared:
        unreadable = f"a {ctx.warehouse.kind} warehouse is opened by one process at a time"
    else:
        facts = _warehouse_facts(ctx)
    from grocery.dashboard import LAKE_PATH, where

    return Status(
        lake=ctx.lake.uri() if lake_made else ctx.lake_uri,
        warehouse=ctx.warehouse.describe(),
        ingest_dates=ingest_dates,
        deliveries=[
            _delivery(ctx, day, *facts.loaded.get(day, (None, None)), facts.landings.get(day.isoformat()))
            for day in reversed(ingest_dates[-SHOWN_DELIVERIES:])
        ],
        raw_sales_last=facts.raw_sales_last,
        fct_sales=facts.fct_sales,
        spark_runs={
            stage: _latest_run(ctx, table) if lake_made else None for stage, table in SPARK_OUTPUTS.items()
        },
        segmented_customers=facts.segmented,
        dashboard=where(ctx.lake) if lake_made and ctx.lake.exists(LAKE_PATH) else None,
        working=working,
        warehouse_unreadable=unreadable,
        sales_days=facts.sales_days,
        unmodelled=facts.unmodelled,
        owed=facts.owed,
    )


@dataclass(frozen=True)
class _WarehouseFacts:
    loaded: dict[date, tuple[int, int]] = field(default_factory=dict)  # ingest date: accepted, quarantined
    raw_sales_last: date | None = None
    sales_days: frozenset[date] = frozenset()
    fct_sales: dict[str, Any] | None = None
    segmented: int | None = None
    landings: dict[str, str] = field(default_factory=dict)  # ingest date: the landing loaded (LOADED_STATE)
    unmodelled: list[date] | None = None
    owed: list[date] | str = field(default_factory=list)


def _warehouse_facts(ctx: Context) -> _WarehouseFacts:
    """What the status reads from the warehouse; nothing from one that does not exist (not created)."""
    warehouse = ctx.warehouse
    if not warehouse.created():
        return _WarehouseFacts()
    raw_sales_last = fct_sales = segmented = None
    sales_days: frozenset[date] = frozenset()
    if warehouse.exists("raw", SALES.name):
        dated = f"cast({SALES.dated_by} as date)"
        rows = warehouse.query(
            f"select distinct {dated} as d from {warehouse.relation('raw', SALES.name)} where {dated} is not null"
        )
        sales_days = frozenset(r["d"] for r in rows)
        raw_sales_last = max(sales_days, default=None)
    if warehouse.exists("core", "fct_sales"):
        extent = warehouse.query(  # (ROWS is a keyword in BigQuery)
            f"select count(*) as n, min(sales_date) as first_day, max(sales_date) as last_day "
            f"from {warehouse.relation('core', 'fct_sales')}"
        )[0]
        fct_sales = {"rows": int(extent["n"]), "first": extent["first_day"], "last": extent["last_day"]}
    if warehouse.exists("marts", "mart_customer_segments"):
        segmented = warehouse.count("marts", "mart_customer_segments")
    landings = json.loads(warehouse.read_state(LOADED_STATE) or "{}")
    unmodelled, owed = _unmodelled(ctx) if fct_sales is not None else (None, [])
    return _WarehouseFacts(
        warehouse.rows_by_ingest_date(),
        raw_sales_last,
        sales_days,
        fct_sales,
        segmented,
        landings,
        unmodelled,
        owed,
    )


def _unmodelled(ctx: Context) -> tuple[list[date] | None, list[date] | str]:
    """The ingest dates of `raw.sales` whose delivery is not the one core.fct_sales was last built
    from (None when that is not known), and the days a transform that did not pass owes."""
    value = ctx.warehouse.read_state(SALES_STATE)
    if not value:
        return None, []
    state = json.loads(value)
    pending = state.get("pending") or []
    owed = pending if pending == EVERYTHING_OWED else [date.fromisoformat(day) for day in pending]
    built_from = state.get("deliveries")
    if built_from is None:
        return None, owed
    now = sales_deliveries(ctx) or {}  # one scan of raw.sales
    changed = {day for day in {*now, *built_from} if now.get(day) != built_from.get(day)}
    return sorted(date.fromisoformat(day) for day in changed), owed


def _delivery(
    ctx: Context, day: date, accepted: int | None, quarantined: int | None, loaded_landing: str | None = None
) -> Delivery:
    """A delivery as its manifest says it landed, with what load made of it: `loaded_landing` is the
    fingerprint of the landing the warehouse holds (None: not recorded, as before load recorded it)."""
    try:
        manifest = read_manifest(ctx, day)
        files = manifest["files"]
    except StageError as exc:  # one damaged manifest is reported, not the end of the status
        return Delivery(day, None, None, accepted, quarantined, damaged=exc.message)
    sales = next((f for f in files if f["table"] == SALES.name), None)
    by_table = {f["table"]: f for f in files}
    problems = [
        f"{table.file_name} missing"
        if table.name not in by_table
        else f"{by_table[table.name].get('name')} empty"
        for table in TABLES
        if table.name not in by_table or by_table[table.name].get("bytes") == 0
    ]
    superseded = (
        accepted is not None and loaded_landing is not None and loaded_landing != landing_fingerprint(files)
    )
    return Delivery(
        day, len(files), sales.get("rows") if sales else None, accepted, quarantined,
        superseded=superseded, unloadable=" and ".join(problems) or None,
        extract_again=extract_again(day, manifest),
    )  # fmt: skip


def _latest_run(ctx: Context, table: str) -> date | None:
    folder = f"{layout.ANALYTICS}/{table}"
    if not ctx.lake.exists(folder):
        return None
    # A folder the Spark jobs do not write (run_date=latest, made by hand) is no run.
    runs = (layout.partition_date(name, "run_date") for name in ctx.lake.listdir(folder))
    return max((run for run in runs if run is not None), default=None)
