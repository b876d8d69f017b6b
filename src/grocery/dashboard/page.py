"""One self-contained HTML file: the page's template, its style and script, Plotly and the data, inlined.

The data and Plotly are inlined gzip-compressed, in base64: at full scale the page is about 8 MB
instead of 19. `loader.js` inflates them in the browser (DecompressionStream, in every current
browser), then runs Plotly and the dashboard's script.

Nothing is fetched when the page is viewed: Plotly's JavaScript comes from the `plotly` package
(plotly.min.js), the map's outlines and city coordinates are in the data (see `geo`). Plotly's geo
views normally download a base map (topojson) from a CDN; the page gives it an empty one up front
(`window.PlotlyGeoAssets`), draws no base layer, and draws the state outlines as a trace instead.
"""

from __future__ import annotations

import base64
import gzip
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

_ASSETS = resources.files("grocery.dashboard") / "assets"


@cache
def _asset(name: str) -> str:
    return (_ASSETS / name).read_text(encoding="utf-8")


@cache
def plotly_js() -> str:
    """plotly.min.js as shipped by the `plotly` Python package."""
    import plotly

    return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")


@cache
def _packed_plotly() -> str:
    return packed(plotly_js())


def packed(text: str) -> str:
    """Text as the page inlines it: gzip (with no time in its header, so a page is the same for the
    same data), then base64, whose alphabet never ends a <script> element."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")


def unpacked(text: str) -> str:
    """The inverse of `packed`."""
    return gzip.decompress(base64.b64decode(text)).decode("utf-8")


def _script_safe(text: str) -> str:
    # Inside <script>, only "</" can end the element early; "<\/" means the same to JavaScript and JSON.
    return text.replace("</", "<\\/")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def render_html(data: dict[str, Any]) -> str:
    """The whole page for a dataset from `data.collect`."""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    parts = {
        "__TITLE__": _html_escape(data["meta"]["title"]),
        "__STYLE__": _asset("dashboard.css"),
        "__DATA__": packed(payload),
        "__PLOTLY__": _packed_plotly(),
        "__APP__": _script_safe(_asset("dashboard.js")),
        "__LOADER__": _script_safe(_asset("loader.js")),
    }
    page = _asset("dashboard.html")
    # One pass, so that text inside the data can never be taken for a placeholder.
    out, i = [], 0
    while True:
        hits = [(page.find(k, i), k) for k in parts if page.find(k, i) >= 0]
        if not hits:
            out.append(page[i:])
            break
        at, key = min(hits)
        out += [page[i:at], parts[key]]
        i = at + len(key)
    return "".join(out)
