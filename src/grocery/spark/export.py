"""The export of `core.fct_sales` to `exports/fct_sales/` in the lake: the only input of the Spark jobs.

It holds the fact's rows in the columns the jobs read (`EXPORT_COLUMNS`), from the dbt view
`staging.int_sales_export` (`EXPORT_RELATION`): the fact with `multi_line_transaction`, the
transaction number of the lines of transactions with several lines and null for every other line,
which is an order of its own. RFM counts orders with it (`grocery.spark.rfm`) without reading the
transaction numbers of the other lines: at full scale that makes the export 84 MB instead of 232 MB.

Exported at most once per state of what it holds: a marker file `exports/fct_sales/_export.json`
records a fingerprint of the rows of `int_sales_export` (`fact_state`: their count, date range and
the XOR of a hash of each over `sales_id` and the exported columns) and the files written (an export
that lost one is made again). `segment` and `recommend` call `ensure_export`; the second finds the
marker matching the warehouse and reuses the files, so one `grocery run` exports once, and a
`transform` that changed any exported value of any line (a re-delivered day that corrects a sale's
customer, product, date, revenue or transaction) makes the next run export again.
The marker lists the export's columns too: files written with other columns are exported again.
A fact without rows (a delivery whose every sale line is undated: those stay in staging) is exported
as nothing: no files, and a marker whose state says so (`has_sales`); the stages then write their
outputs empty without starting Spark. Its run date, with no sales date to go by, is the latest delivery's.
No pyspark here: the warehouse adapter writes the Parquet files (DuckDB COPY, BigQuery EXPORT DATA).
DuckDB writes them bucketed by customer, one bucket per local core (`grocery.spark.buckets`), and
the marker says so; the jobs then read them as a bucketed table and group by customer without a
shuffle. BigQuery's files are plain, and read as such.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from grocery.cloud import cloud_failure
from grocery.errors import GroceryError, StageError
from grocery.spark.buckets import Buckets

if TYPE_CHECKING:
    from grocery.context import Context

EXPORT_DIR = "exports/fct_sales"
MARKER = f"{EXPORT_DIR}/_export.json"
BUCKET_COLUMN = "customer_id"  # both jobs group the lines by customer first
EXPORT_RELATION = ("staging", "int_sales_export")  # dbt/models/intermediate/int_sales_export.sql
# The columns the Spark jobs read, and all the export holds: writing the fact's other columns as
# well took the export from 1.4 s to 2.3 s at full scale, for nothing.
EXPORT_COLUMNS = ("customer_id", "product_id", "sales_date", "net_revenue", "multi_line_transaction")


def fact_state(ctx: Context) -> dict[str, Any]:
    """A fingerprint of the rows the export holds (`EXPORT_RELATION`) that changes whenever any of them
    does: their count, date range, and the XOR of a hash of each row (`Warehouse.row_hash`).

    The hash is over `sales_id` as well as `EXPORT_COLUMNS`: two lines alike in every exported column
    (one customer buying one product at one price twice a day) would cancel out of the XOR, and a
    correction of both together would go unseen. One scan: 75-95 ms over the 6.7 M lines of a full
    scale DuckDB warehouse (2 cores), where counts and sums alone took 25 ms; 130 ms with 5% of the
    lines in listed transactions.
    """
    warehouse = ctx.warehouse
    relation = warehouse.relation(*EXPORT_RELATION)
    row_hash = warehouse.row_hash(("sales_id", *EXPORT_COLUMNS))
    try:
        rows = warehouse.query(
            f"select count(*) as row_count, min(sales_date) as first_sales_date, "
            f"max(sales_date) as last_sales_date, bit_xor({row_hash}) as rows_hash from {relation}"
        )
    except warehouse.missing_relation as exc:
        # Transform has not built the fact, or the warehouse predates the view. Anything else (a
        # locked file, no credentials) says so itself.
        if warehouse.exists("core", "fct_sales"):
            raise StageError(
                f"cannot export {relation}: the warehouse has no such view",
                hint="`grocery transform` builds that view: run it if the warehouse predates it",
            ) from exc
        raise StageError(
            "the warehouse has no core.fct_sales yet", hint="run `grocery transform` first"
        ) from exc
    state = rows[0]
    return {
        "row_count": int(state["row_count"]),
        **{k: _iso(state[k]) for k in ("first_sales_date", "last_sales_date")},
        "rows_hash": int(state["rows_hash"] or 0),  # null over no rows
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def read_marker(ctx: Context) -> dict[str, Any] | None:
    """The export's marker; None without one. A marker that cannot be read (a write cut short, an
    edit) is none: the export is a copy of the warehouse, and it is made again."""
    if not ctx.lake.exists(MARKER):
        return None
    try:
        marker = ctx.lake.read_json(MARKER)
    except ValueError:
        return None
    return marker if isinstance(marker, dict) and isinstance(marker.get("state"), dict) else None


def export_buckets() -> Buckets:
    """The export's buckets: by customer, one per core (the tasks a local Spark runs at once)."""
    from grocery.spark.session import local_cores

    return Buckets(BUCKET_COLUMN, local_cores())


def marker_buckets(marker: dict[str, Any]) -> Buckets | None:
    """How the export the marker describes is bucketed; None for plain files."""
    return Buckets.from_json(marker.get("buckets"))


def has_sales(state: dict[str, Any]) -> bool:
    """Whether a state of the fact (`fact_state`, a marker's "state") has any sale line to export."""
    return bool(state["row_count"])


NO_SALES = "core.fct_sales has no dated sales"  # what the Spark stages say of an export of nothing


def ensure_export(ctx: Context, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export core.fct_sales unless the lake already holds this state of it (`fact_state`, when the
    caller has it already); returns the marker. A fact without rows exports no file."""
    state = fact_state(ctx) if state is None else state
    marker = read_marker(ctx)
    if (
        marker is not None
        and marker.get("state") == state
        and marker.get("columns") == list(EXPORT_COLUMNS)
        and marker.get("files") == _exported_files(ctx)  # none lost since (a lifecycle rule, a clean-up)
    ):
        return marker
    if not has_sales(state):
        # Nothing for the jobs to read: no file, and none left of an earlier state.
        ctx.lake.remove(EXPORT_DIR)
        marker = {"state": state, "columns": list(EXPORT_COLUMNS), "files": [], "exported_at": _now()}
        ctx.lake.write_json(MARKER, marker)
        return marker
    with ctx.progress.step(
        f"exporting core.fct_sales ({state['row_count']:,} rows) to {ctx.lake.uri(EXPORT_DIR)}"
    ):
        ctx.lake.remove(EXPORT_DIR)
        relation = ctx.warehouse.relation(*EXPORT_RELATION)
        try:
            buckets = ctx.warehouse.export_table(
                relation, ctx.lake.uri(EXPORT_DIR), export_buckets(), EXPORT_COLUMNS
            )
        except GroceryError:  # said already, with its own hint
            raise
        except Exception as exc:  # the adapters raise their own errors ("table not found" the likeliest)
            if cloud_failure(exc) is not None:  # no credentials, access or network: the CLI says which
                raise
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StageError(
                f"cannot export {relation}: {detail}",
                hint="`grocery transform` builds that view: run it if the warehouse predates it",
            ) from exc
        marker = {
            "state": state,
            "columns": list(EXPORT_COLUMNS),
            "files": _exported_files(ctx),
            "exported_at": _now(),
        }
        if buckets is not None:
            marker["buckets"] = buckets.to_json()
        ctx.lake.write_json(MARKER, marker)
    return marker


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _exported_files(ctx: Context) -> list[str]:
    """The export's Parquet files, by name: the Spark jobs read them all, so a lost one is a lost bucket."""
    return [path.rsplit("/", 1)[-1] for path in ctx.lake.files(EXPORT_DIR, ".parquet")]


def run_date(ctx: Context, marker: dict[str, Any] | None) -> date:
    """The as-of date of the Spark outputs: the interval's end, else the last sales date exported,
    else (an export of nothing) the latest delivery's ingest date. The marker may be None only
    with an interval."""
    if ctx.interval.end is not None:
        return ctx.interval.end
    assert marker is not None, "a run over everything dates its outputs by the export"
    last = marker["state"]["last_sales_date"]
    return date.fromisoformat(last) if last else ctx.ingest_date()
