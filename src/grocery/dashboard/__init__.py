"""The dashboard: every business question on one self-contained HTML page.

    grocery dashboard [--output PATH] [--open] [--serve [--port N]]

`render(ctx)` reads the marts through the pipeline's warehouse adapter (DuckDB or BigQuery alike),
writes the page into the lake at `dashboard/index.html` (a local file, or a GCS object that can be
served as a static page) or to a given path, and returns where it went. `grocery run` calls it after
the last stage and prints that place last. The page needs no server and no network: Plotly, the
data and the map are inlined (see `page` and `geo`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from grocery.errors import StageError, make_folder

if TYPE_CHECKING:
    from grocery.context import Context
    from grocery.lake import Lake

LAKE_PATH = "dashboard/index.html"


def build_html(ctx: Context) -> str:
    """The page for the pipeline's current marts."""
    from grocery.dashboard.data import MissingMarts, collect
    from grocery.dashboard.page import render_html

    if not ctx.warehouse.created():  # a DuckDB warehouse's file would be made by opening it
        raise StageError(
            f"the dashboard needs the marts, and {ctx.warehouse.describe()} does not exist yet",
            hint="run `grocery run` (or `grocery transform`) first",
        )
    try:
        data = collect(ctx.warehouse, ctx.spec.dashboard)
    except MissingMarts as exc:
        raise StageError(
            f"the dashboard needs {exc}, which the warehouse does not have yet",
            hint="run `grocery run` (or `grocery transform`) first",
        ) from None
    return render_html(data)


def render(ctx: Context, output: Path | None = None) -> str:
    """Write the dashboard to `output`, or into the lake; returns the local path or the lake URI."""
    html = build_html(ctx).encode("utf-8")
    if output is not None:
        output = output.resolve()
        make_folder(output.parent, "the page's folder", hint="pass an --output path you can write to")
        output.write_bytes(html)
        return str(output)
    ctx.lake.write_bytes(LAKE_PATH, html)
    return where(ctx.lake)


def where(lake: Lake) -> str:
    """Where the page in a lake is, as a user opens it: a path on this machine (a file:// URI names
    its path as written, which a browser would percent-decode), else the lake's URI."""
    return str(lake.local_path(LAKE_PATH)) if lake.is_local else lake.uri(LAKE_PATH)
