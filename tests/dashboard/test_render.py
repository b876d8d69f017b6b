"""The dashboard without a browser: its data, the map's sources, the command and the loopback server."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from dashboard_browser import open_context
from typer.testing import CliRunner

from grocery.cli import app
from grocery.dashboard import data as dashboard_data
from grocery.dashboard import geo
from grocery.dashboard.page import plotly_js, unpacked
from grocery.dashboard.serve import make_server


def test_cities_of_the_dataset_are_placed_from_the_package() -> None:
    new_york = geo.locate_city("New York")
    assert new_york and new_york.state == "NY" and 40 < new_york.lat < 41
    # A name shared by several cities is the most populous one; Kaggle's shortened names are known.
    assert geo.locate_city("Portland").state == "OR"
    assert geo.locate_city("Kansas").name == "Kansas City"
    assert geo.locate_city("Atlantis") is None
    assert geo.locate_city("Paris", "France") is None


def test_state_outlines_cover_the_country() -> None:
    outlines = geo.state_outlines()
    rings = outlines["lon"].count(None)
    assert rings >= 51  # every state and DC, plus islands
    lons = [x for x in outlines["lon"] if x is not None]
    lats = [y for y in outlines["lat"] if y is not None]
    assert min(lons) < -170 and max(lons) < -60 and min(lats) < 20 and max(lats) > 70


def test_collect_matches_the_marts_and_marks_missing_spark_marts(pipeline_home: Path) -> None:
    ctx = open_context(pipeline_home)
    try:
        data = dashboard_data.collect(ctx.warehouse, ctx.spec.dashboard)
        total = ctx.warehouse.query("select sum(net_revenue) as r from marts.mart_sales_summary")[0]["r"]
    finally:
        ctx.close()
    assert sum(data["daily"]["revenue"]) == pytest.approx(total, abs=0.01)
    assert sum(data["city_sales"]["revenue"]) == pytest.approx(total, abs=0.01)
    assert sum(data["product_sales"]["revenue"]) == pytest.approx(total, abs=0.01)
    assert sum(data["employee_sales"]["revenue"]) == pytest.approx(total, abs=0.01)
    assert data["segments"] is None and data["recommendations"] is None
    assert all(c["lat"] is not None for c in data["cities"])
    json.dumps(data, allow_nan=False)


def test_dashboard_command_writes_one_self_contained_file(pipeline_home: Path, tmp_path: Path) -> None:
    # Longer than a terminal line: the path must still come out whole, on one line.
    output = tmp_path / ("a-folder-with-a-long-name-" * 4) / "dashboard.html"
    result = CliRunner().invoke(app, ["dashboard", "--home", str(pipeline_home), "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert f"dashboard: {output}\n" in result.output
    html = output.read_text()
    assert html.count("<script") == 5 and "__DATA__" not in html
    # The data and Plotly, inlined packed: exactly what the warehouse gave, and the package's Plotly.
    inlined = dict(re.findall(r'<script id="([\w-]+)" type="application/gzip;base64">([^<]*)</script>', html))
    assert json.loads(unpacked(inlined["dashboard-data"]))["meta"]["title"]
    assert unpacked(inlined["plotly-js"]) == plotly_js()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"?https?:", html)


def test_an_output_beneath_a_file_is_one_line(pipeline_home: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    result = CliRunner().invoke(
        app, ["dashboard", "--home", str(pipeline_home), "-o", str(a_file / "page.html")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: cannot create the page's folder {a_file}: a file has that name")


def test_the_dashboard_is_not_rendered_beside_a_command_working_in_the_home(
    pipeline_home: Path, tmp_path: Path
) -> None:
    """It reads the warehouse and writes the page a run writes: beside a run, one line says why not."""
    import fcntl
    import os

    fd = os.open(pipeline_home / ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = CliRunner().invoke(
            app, ["dashboard", "--home", str(pipeline_home), "--output", str(tmp_path / "x.html")]
        )
    finally:
        os.close(fd)
    assert result.exit_code == 1 and not (tmp_path / "x.html").exists()
    assert result.stderr.startswith(f"error: another grocery command is working in {pipeline_home}")


def test_dashboard_command_without_marts_says_what_to_run(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["dashboard", "--home", str(tmp_path), "--output", str(tmp_path / "x.html")]
    )
    assert result.exit_code == 1
    assert "grocery run" in result.output and "Traceback" not in result.output


def test_a_home_or_warehouse_that_does_not_exist_is_one_line_and_left_unmade(tmp_path: Path) -> None:
    never = CliRunner().invoke(app, ["dashboard", "--home", str(tmp_path / "never")])
    assert never.exit_code == 1, never.output
    assert never.stderr == (
        f"error: no home at {tmp_path / 'never'} (run `grocery run` (or `grocery extract`) with this --home first)\n"
    )
    assert not (tmp_path / "never").exists()
    empty = CliRunner().invoke(app, ["dashboard", "--home", str(tmp_path)])
    assert empty.exit_code == 1
    assert empty.stderr.startswith(
        f"error: the dashboard needs the marts, and DuckDB {tmp_path / 'warehouse.duckdb'} does not exist yet"
    )
    assert not (tmp_path / "warehouse.duckdb").exists() and not (tmp_path / "lake").exists()


def test_server_answers_on_loopback_only(page: Path) -> None:
    server = make_server(page, port=0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.headers["Content-Type"].startswith("text/html")
            assert response.read() == page.read_bytes()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/etc/passwd", timeout=10)
        assert missing.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_in_use_is_one_line_naming_it(page: Path) -> None:
    from grocery.errors import ConfigError

    taken = make_server(page, port=0)
    port = taken.server_address[1]
    try:
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use") as raised:
            make_server(page, port=port)
        assert "--port 0" in (raised.value.hint or "")
    finally:
        taken.server_close()


def test_a_port_beyond_the_range_is_refused_by_the_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from grocery import cli

    result = CliRunner().invoke(cli.app, ["dashboard", "--home", str(tmp_path), "--serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.EACCES, "Permission denied"), (errno.EADDRNOTAVAIL, "Cannot assign requested address")],
)
def test_a_port_that_cannot_be_bound_is_one_line_naming_it_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    """As binding port 80 without the privilege fails, or an address the machine lacks: one line."""
    from grocery import cli
    from grocery.dashboard import serve

    def refused(address: tuple[str, int], handler: object) -> None:
        raise OSError(code, os.strerror(code))

    page = tmp_path / "index.html"
    page.write_text("<html></html>")
    monkeypatch.setattr(serve, "ThreadingHTTPServer", refused)
    monkeypatch.setattr(cli, "_render_dashboard", lambda ctx, output=None: str(page))
    result = CliRunner().invoke(app, ["dashboard", "--home", str(tmp_path), "--serve", "--port", "80"])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: cannot serve on port 80 on 127.0.0.1: {reason} "
        "(pass another with --port, or --port 0 for any free one)\n"
    )
    assert "Traceback" not in result.output


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_server_and_the_command_ends_well(private_home: Path, sent: signal.Signals) -> None:
    # The server runs where a signal raises its interrupt (the command's handler ends others at once).
    command = [sys.executable, "-m", "grocery.cli", "dashboard", "--home", str(private_home), "--serve",
               "--port", "0", "--output", str(private_home / "page.html")]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    ) as server:  # fmt: skip
        assert server.stdout is not None
        serving = next(line for line in server.stdout if line.startswith("serving "))
        url = re.search(r"http://127\.0\.0\.1:\d+/", serving)
        assert url is not None
        with urllib.request.urlopen(url.group(0), timeout=10) as response:
            assert response.status == 200
        server.send_signal(sent)
        _, stderr = server.communicate(timeout=30)
    assert (server.returncode, stderr) == (0, "")
