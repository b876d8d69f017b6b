"""What a pipeline home holds, for `grocery status`: the question a data engineer asks before the
next run, and after one that went wrong.

- deliveries: every ingest date the lake has a manifest for (extract), the latest in detail: its
  sales lines landed and, per ingest date, the rows of every table in `raw` and in `quarantine`
  (load), or that it was never loaded;
- the days between the first and the last delivery that none covers: neither the ingest date of
  one nor a day its sales lines are on (a backfill to run);
- the last sales date in `raw.sales` and the extent of `core.fct_sales` (transform);
- the latest run date of the Spark outputs in the lake (segment, recommend) and the customers in
  `marts.mart_customer_segments` (publish), and where the dashboard is.

Reading it changes nothing: a warehouse that does not exist is not created, a home never run says
so. It reads the lake and the warehouse of any spec, local or on Google Cloud, through the same
adapters as the stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from grocery import lake as layout
from grocery.context import Context
from grocery.errors import StageError
from grocery.extract import read_manifest
from grocery.tables import SALES
from grocery.warehouse.base import Warehouse

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

    @property
    def loaded(self) -> bool:
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
        steps = [
            f"{d.damaged}: run `grocery extract --date {d.ingest_date}` again"
            if d.damaged
            else f"ingest_date={d.ingest_date} was landed but never loaded: run `grocery load --date {d.ingest_date}`"
            for d in self.deliveries
            if d.damaged or not d.loaded
        ]
        fct_last = self.fct_sales["last"] if self.fct_sales else None
        if self.raw_sales_last and not fct_last:
            steps.append("nothing is modelled yet: run `grocery transform`")
        elif self.raw_sales_last and fct_last and self.raw_sales_last > fct_last:
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["sales_days"]
        data["next_steps"] = self.next_steps()
        return data


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
        facts = _warehouse_facts(ctx.warehouse)
    from grocery.dashboard import LAKE_PATH

    return Status(
        lake=ctx.lake.uri() if lake_made else ctx.lake_uri,
        warehouse=ctx.warehouse.describe(),
        ingest_dates=ingest_dates,
        deliveries=[
            _delivery(ctx, day, *facts.loaded.get(day, (None, None)))
            for day in reversed(ingest_dates[-SHOWN_DELIVERIES:])
        ],
        raw_sales_last=facts.raw_sales_last,
        fct_sales=facts.fct_sales,
        spark_runs={
            stage: _latest_run(ctx, table) if lake_made else None for stage, table in SPARK_OUTPUTS.items()
        },
        segmented_customers=facts.segmented,
        dashboard=ctx.lake.uri(LAKE_PATH) if lake_made and ctx.lake.exists(LAKE_PATH) else None,
        working=working,
        warehouse_unreadable=unreadable,
        sales_days=facts.sales_days,
    )


@dataclass(frozen=True)
class _WarehouseFacts:
    loaded: dict[date, tuple[int, int]] = field(default_factory=dict)  # ingest date: accepted, quarantined
    raw_sales_last: date | None = None
    sales_days: frozenset[date] = frozenset()
    fct_sales: dict[str, Any] | None = None
    segmented: int | None = None


def _warehouse_facts(warehouse: Warehouse) -> _WarehouseFacts:
    """What the status reads from the warehouse; nothing from one that does not exist (not created)."""
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
    return _WarehouseFacts(warehouse.rows_by_ingest_date(), raw_sales_last, sales_days, fct_sales, segmented)


def _delivery(ctx: Context, day: date, accepted: int | None, quarantined: int | None) -> Delivery:
    try:
        files = read_manifest(ctx, day)["files"]
    except StageError as exc:  # one damaged manifest is reported, not the end of the status
        return Delivery(day, None, None, accepted, quarantined, damaged=exc.message)
    sales = next((f for f in files if f["table"] == SALES.name), None)
    return Delivery(day, len(files), sales.get("rows") if sales else None, accepted, quarantined)


def _latest_run(ctx: Context, table: str) -> date | None:
    folder = f"{layout.ANALYTICS}/{table}"
    if not ctx.lake.exists(folder):
        return None
    # A folder the Spark jobs do not write (run_date=latest, made by hand) is no run.
    runs = (layout.partition_date(name, "run_date") for name in ctx.lake.listdir(folder))
    return max((run for run in runs if run is not None), default=None)
