"""The export of `core.fct_sales` to `exports/fct_sales/` in the lake: the only input of the Spark jobs.

Exported at most once per state of the fact: a marker file `exports/fct_sales/_export.json` records
a fingerprint of the warehouse table (rows, sales_id sum and max, date range, revenue). `segment`
and `recommend` call `ensure_export`; the second finds the marker matching the warehouse and reuses
the files, so one `grocery run` exports once, and a new `transform` makes the next run export again.
No pyspark here: the warehouse adapter writes the Parquet files (DuckDB COPY, BigQuery EXPORT DATA).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from grocery.errors import StageError

if TYPE_CHECKING:
    from grocery.context import Context

EXPORT_DIR = "exports/fct_sales"
MARKER = f"{EXPORT_DIR}/_export.json"


def fact_state(ctx: Context) -> dict[str, Any]:
    """A fingerprint of core.fct_sales that changes whenever its rows do."""
    relation = ctx.warehouse.relation("core", "fct_sales")
    try:
        rows = ctx.warehouse.query(
            f"select count(*) as row_count, max(sales_id) as max_sales_id, sum(sales_id) as sum_sales_id, "
            f"min(sales_date) as first_sales_date, max(sales_date) as last_sales_date, "
            f"round(sum(net_revenue), 2) as net_revenue from {relation}"
        )
    except Exception as exc:  # the adapters raise their own "table not found" errors
        raise StageError(
            f"cannot read {relation} from the warehouse ({type(exc).__name__})",
            hint="run `grocery transform` first",
        ) from exc
    state = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in rows[0].items()}
    state = {k: (float(v) if k == "net_revenue" and v is not None else v) for k, v in state.items()}
    if not state["row_count"]:
        raise StageError(f"{relation} has no rows", hint="run extract, load and transform first")
    return {
        k: (int(v) if k in ("row_count", "max_sales_id", "sum_sales_id") else v) for k, v in state.items()
    }


def read_marker(ctx: Context) -> dict[str, Any] | None:
    return ctx.lake.read_json(MARKER) if ctx.lake.exists(MARKER) else None


def ensure_export(ctx: Context) -> dict[str, Any]:
    """Export core.fct_sales unless the lake already holds this state of it; returns the marker."""
    state = fact_state(ctx)
    marker = read_marker(ctx)
    if marker is not None and marker.get("state") == state and ctx.lake.files(EXPORT_DIR, ".parquet"):
        return marker
    with ctx.progress.step(
        f"exporting core.fct_sales ({state['row_count']:,} rows) to {ctx.lake.uri(EXPORT_DIR)}"
    ):
        ctx.lake.remove(EXPORT_DIR)
        ctx.warehouse.export_table(ctx.warehouse.relation("core", "fct_sales"), ctx.lake.uri(EXPORT_DIR))
        marker = {"state": state, "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}
        ctx.lake.write_json(MARKER, marker)
    return marker


def run_date(ctx: Context, marker: dict[str, Any]) -> date:
    """The as-of date of the Spark outputs: the interval's end, else the last sales date exported."""
    if ctx.interval.end is not None:
        return ctx.interval.end
    return date.fromisoformat(marker["state"]["last_sales_date"])
