"""`grocery status`: what a home holds, read without changing it.

A home with three deliveries: the generated history (ingest date 2018-05-09, loaded, some sales
quarantined), 2018-05-11 loaded, and 2018-05-12 landed but never loaded; 2018-05-10 never came.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from pipeline_support import make_context
from typer.testing import CliRunner

from grocery import extract, load, status
from grocery.cli import app
from grocery.errors import InputError
from grocery.interval import DataInterval

BAD_SALES = ["1,1,1,1,1,1.5,0.0,2018-05-09 10:00:00.000,T", "not,a,sale"]  # discount >= 1, malformed


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, generated: Path) -> Path:
    folder = tmp_path_factory.mktemp("status")
    history = folder / "history"
    shutil.copytree(generated, history)
    with open(history / "sales.csv", "a") as f:
        f.write("".join(line + "\n" for line in BAD_SALES))
    home = folder / "home"
    ctx = make_context(home, history)
    extract.run(ctx)
    load.run(ctx)
    for day, stages in ((date(2018, 5, 11), (extract, load)), (date(2018, 5, 12), (extract,))):
        ctx = make_context(home, interval=DataInterval.day(day), **{"source.scale": 0.001})
        for stage in stages:
            stage.run(ctx)
    # What transform, segment and publish leave, without paying for dbt and Spark.
    ctx.warehouse.query(
        "create table core.fct_sales as select * from (values (1, date '2018-01-02'), (2, date '2018-05-11')) "
        "as t(sales_id, sales_date)"
    )
    ctx.close()
    (ctx.lake.local_path("analytics/customer_rfm/run_date=2018-05-09")).mkdir(parents=True)
    (ctx.lake.local_path("analytics/customer_rfm/run_date=2018-05-11")).mkdir(parents=True)
    return home


def test_the_status_names_every_delivery_what_load_made_of_it_and_what_is_missing(home: Path) -> None:
    ctx = make_context(home)
    found = status.collect(ctx)
    ctx.close()
    assert found.ingest_dates == [date(2018, 5, 9), date(2018, 5, 11), date(2018, 5, 12)]
    assert found.missing_days == [date(2018, 5, 10)]
    latest, day, history = found.deliveries
    assert (latest.ingest_date, latest.files, latest.loaded, latest.quarantined) == (
        date(2018, 5, 12),
        7,
        False,
        None,
    )
    assert day.ingest_date == date(2018, 5, 11) and day.loaded and day.quarantined == 0
    # Every table's rows, as load counted them: rows in = accepted + quarantined.
    reported = load_report(home, date(2018, 5, 9))
    assert (history.accepted, history.quarantined) == (reported["accepted"], reported["quarantined"])
    assert history.quarantined == len(BAD_SALES)
    assert history.sales_lines == reported["tables"]["sales"]["rows_in"]
    assert found.fct_sales == {"rows": 2, "first": date(2018, 1, 2), "last": date(2018, 5, 11)}
    assert found.raw_sales_last == date(2018, 5, 11)
    assert found.spark_runs == {"segment": date(2018, 5, 11), "recommend": None}
    assert found.segmented_customers is None and found.dashboard is None
    assert found.next_steps() == [
        "ingest_date=2018-05-12 was landed but never loaded: run `grocery load --date 2018-05-12`",
        "1 day(s) between the first and the last delivery have none (2018-05-10): "
        "`grocery run --date D` delivers one",
    ]


def load_report(home: Path, day: date) -> dict:
    """What load reported for a delivery, run again: it replaces the ingest date, so nothing changes."""
    ctx = make_context(home, interval=DataInterval.day(day))
    try:
        return load.run(ctx).metrics
    finally:
        ctx.close()


def test_the_latest_deliveries_are_shown_and_every_missing_day_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    days = [date(2018, 5, 1), date(2018, 5, 2), date(2018, 5, 9)]
    assert status.days_without_delivery(days) == [date(2018, 5, n) for n in range(3, 9)]
    assert status.name_days(status.days_without_delivery(days)) == (
        "2018-05-03, 2018-05-04, 2018-05-05, 2018-05-06, 2018-05-07 and 1 more"
    )
    assert status.days_without_delivery([date(2018, 5, 1)]) == []
    # Sales lines on a day cover it: a delivery of 05-03 .. 05-09 lands under its last day.
    sales = frozenset(date(2018, 5, n) for n in range(3, 10))
    assert status.days_without_delivery(days, sales) == []


def test_a_delivery_of_several_days_covers_them(tmp_path: Path) -> None:
    # `--start 05-03 --end 05-05` lands one delivery, ingest date 05-05: 05-03 and 05-04 are not missing.
    home = tmp_path / "home"
    for interval in (DataInterval.day(date(2018, 5, 1)), DataInterval(date(2018, 5, 3), date(2018, 5, 5))):
        ctx = make_context(home, interval=interval, **{"source.scale": 0.001})
        extract.run(ctx)
        load.run(ctx)
        ctx.close()
    ctx = make_context(home)
    found = status.collect(ctx)
    ctx.close()
    assert found.ingest_dates == [date(2018, 5, 1), date(2018, 5, 5)]
    assert found.missing_days == [date(2018, 5, 2)]
    assert "sales_days" not in found.to_json()


def behind(**changes) -> status.Status:
    """A home loaded up to 2018-05-11, whose later stages ran up to 2018-05-10."""
    values: dict = dict(
        lake="file:///l", warehouse="DuckDB w", ingest_dates=[date(2018, 5, 9), date(2018, 5, 11)],
        deliveries=[], raw_sales_last=date(2018, 5, 11),
        fct_sales={"rows": 9, "first": date(2018, 1, 1), "last": date(2018, 5, 10)},
        spark_runs={"segment": date(2018, 5, 10), "recommend": None}, segmented_customers=5, dashboard=None,
    )  # fmt: skip
    return status.Status(**{**values, **changes})


def test_the_next_steps_name_the_stages_behind_the_loaded_sales() -> None:
    assert behind().next_steps() == [
        "raw.sales holds sales up to 2018-05-11, core.fct_sales up to 2018-05-10: "
        "run `grocery transform --start 2018-05-11 --end 2018-05-11`",
        "1 day(s) between the first and the last delivery have none (2018-05-10): "
        "`grocery run --date D` delivers one",
    ]
    caught_up = {"rows": 9, "first": date(2018, 1, 1), "last": date(2018, 5, 11)}
    assert behind(fct_sales=caught_up, ingest_dates=[date(2018, 5, 11)]).next_steps() == [
        "the Spark outputs are of 2018-05-10, core.fct_sales has sales up to 2018-05-11: "
        "run `grocery run --stages segment,recommend,publish --date 2018-05-11`"
    ]
    assert behind(fct_sales=None, ingest_dates=[date(2018, 5, 11)]).next_steps() == [
        "nothing is modelled yet: run `grocery transform`"
    ]
    never_spark = {"segment": None, "recommend": None}
    assert (
        behind(fct_sales=caught_up, spark_runs=never_spark, ingest_dates=[date(2018, 5, 11)]).next_steps()
        == []
    )
    with_rejects = [status.Delivery(date(2018, 5, 11), 7, 10, accepted=8, quarantined=2)]
    assert behind(
        fct_sales=caught_up, spark_runs=never_spark, ingest_dates=[date(2018, 5, 11)], deliveries=with_rejects
    ).next_steps() == [
        "ingest_date=2018-05-11 has 2 quarantined rows: `grocery quarantine --date 2018-05-11` shows them "
        "with their reasons"
    ]


def test_the_command_prints_the_status_and_its_json(home: Path) -> None:
    printed = CliRunner().invoke(app, ["status", "--home", str(home)])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert f"lake       {(home / 'lake').as_uri()}" in lines
    assert f"warehouse  DuckDB {home / 'warehouse.duckdb'}" in lines
    assert "deliveries 3 ingest dates, 2018-05-09 .. 2018-05-12" in lines
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines if line.startswith("│")]
    assert [row[0] for row in rows] == ["2018-05-12", "2018-05-11", "2018-05-09"]  # the newest first
    assert [row[3] for row in rows] == ["no", "yes", "yes"]  # loaded
    assert [row[5] for row in rows] == ["", "0", str(len(BAD_SALES))]  # quarantined
    assert "fct_sales  2 rows, sales dates 2018-01-02 .. 2018-05-11" in lines
    assert "spark      segment 2018-05-11, recommend never run" in lines
    assert "dashboard  not rendered yet" in lines
    assert lines[-1].startswith(
        "next: 1 day(s) between the first and the last delivery have none (2018-05-10)"
    )

    as_json = CliRunner().invoke(app, ["status", "--home", str(home), "--json"])
    data = json.loads(as_json.output)
    assert data["missing_days"] == ["2018-05-10"] and len(data["deliveries"]) == 3
    assert data["next_steps"][0].startswith("ingest_date=2018-05-12 was landed but never loaded")


def test_a_damaged_manifest_is_reported_and_the_rest_still_read(home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    (copy / "lake" / "raw" / "_manifests" / "ingest_date=2018-05-11.json").write_text("{broken")
    printed = CliRunner().invoke(app, ["status", "--home", str(copy)], env={"COLUMNS": "200"})
    assert printed.exit_code == 0, printed.output
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in printed.output.splitlines()
        if line.startswith("│")
    ]
    assert [row[:2] for row in rows] == [["2018-05-12", "7"], ["2018-05-11", "damaged"], ["2018-05-09", "7"]]
    assert any(
        line.startswith(
            f"next: the manifest {(copy / 'lake').as_uri()}/raw/_manifests/ingest_date=2018-05-11.json is damaged"
        )
        and line.endswith(
            "run `grocery extract --date 2018-05-11` (or `--start A --end 2018-05-11`, for a delivery of "
            "several days) again"
        )
        for line in printed.output.splitlines()
    )
    load_again = CliRunner().invoke(app, ["load", "--home", str(copy), "--date", "2018-05-11"])
    assert load_again.exit_code == 1 and "is damaged (JSONDecodeError: " in load_again.output


def test_a_home_never_run_is_reported_empty_and_left_unmade(tmp_path: Path) -> None:
    home = tmp_path / "nothing"
    printed = CliRunner().invoke(app, ["status", "--home", str(home)])
    assert printed.exit_code == 0, printed.output
    assert printed.output.splitlines()[-1] == (
        "next: nothing here yet: run `grocery run` (or `grocery extract`) with this --home"
    )
    assert not home.exists()


def test_a_run_in_progress_is_named_and_its_home_read_as_far_as_it_can_be(home: Path) -> None:
    """Watched from another terminal: the command working in the home is named, the lake is read,
    and the DuckDB warehouse is left alone (opening it could make that command fail), and said so."""
    hold = (
        "import duckdb, fcntl, os, sys\n"
        "fd = os.open(sys.argv[1] + '/.lock', os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.ftruncate(fd, 0); os.pwrite(fd, b'PID 1: grocery run --scale 1', 0)\n"
        "con = duckdb.connect(sys.argv[1] + '/warehouse.duckdb')\n"
        "print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        printed = CliRunner().invoke(app, ["status", "--home", str(home)], env={"COLUMNS": "200"})
    finally:
        holder.communicate("")
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert lines[0] == "working    PID 1: grocery run --scale 1"
    assert "deliveries 3 ingest dates, 2018-05-09 .. 2018-05-12" in lines
    assert (
        "           not read while that command works: a duckdb warehouse is opened by one process at a time"
        in lines
    )
    assert lines[-1] == (
        "next: wait for the command working in this home (PID 1: grocery run --scale 1) to end, then ask again"
    )
    # Once it has ended, the same home reads whole again.
    assert "working" not in CliRunner().invoke(app, ["status", "--home", str(home)]).output


def test_names_the_pipeline_does_not_write_are_no_deliveries_and_no_runs(home: Path, tmp_path: Path) -> None:
    """Made by hand in the lake: a manifest of no day, a file of no delivery, a Spark run of no date."""
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    manifests = copy / "lake" / "raw" / "_manifests"
    for junk in ("ingest_date=2018-02-30.json", "ingest_date=latest.json", "ingest_date=20180513.json"):
        (manifests / junk).write_text("{}")
    (manifests / "notes.txt").write_text("ingest_date=2018-05-13")
    for junk in ("run_date=latest", "run_date=2018-13-01", "backup"):
        (copy / "lake" / "analytics" / "customer_rfm" / junk).mkdir()
    printed = CliRunner().invoke(app, ["status", "--home", str(copy)], env={"COLUMNS": "200"})
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert "deliveries 3 ingest dates, 2018-05-09 .. 2018-05-12" in lines
    assert "spark      segment 2018-05-11, recommend never run" in lines
    quarantine = CliRunner().invoke(
        app, ["quarantine", "--home", str(copy)]
    )  # the latest delivery, 2018-05-12
    assert quarantine.exit_code == 1 and "ingest_date=2018-05-12 has not been loaded" in quarantine.output


def _run(home: Path, day: date | DataInterval, stages, source_folder: Path | None = None, **changes) -> None:
    interval = day if isinstance(day, DataInterval) else DataInterval.day(day)
    ctx = make_context(home, source_folder, interval=interval, **{"source.scale": 0.001, **changes})
    try:
        for stage in stages:
            stage.run(ctx)
    finally:
        ctx.close()


def _transformed(home: Path) -> None:
    """What a transform that passed leaves, without paying for dbt: core.fct_sales over the dated
    lines of raw.sales, and the state naming the deliveries it was built from."""
    from grocery import transform

    ctx = make_context(home)
    ctx.warehouse.query(
        "create or replace table core.fct_sales as select SalesID as sales_id, cast(SalesDate as date) as "
        "sales_date from raw.sales where SalesDate is not null"
    )
    state = {"deliveries": transform.sales_deliveries(ctx), "pending": []}
    ctx.warehouse.write_state(transform.SALES_STATE, json.dumps(state))
    ctx.close()


def _next_steps(home: Path) -> tuple[status.Status, list[str]]:
    ctx = make_context(home)
    try:
        found = status.collect(ctx)
    finally:
        ctx.close()
    return found, found.next_steps()


def test_sales_loaded_after_the_last_transform_and_a_landing_never_loaded_are_named(tmp_path: Path) -> None:
    """A backfill loaded but not transformed (its day is older than the fact's last), then a day
    delivered again and landed but not loaded: each is named, with the command that catches up."""
    home = tmp_path / "home"
    for day in (date(2018, 5, 2), date(2018, 5, 3)):
        _run(home, day, (extract, load))
    _transformed(home)
    assert _next_steps(home)[1] == []

    _run(home, date(2018, 5, 1), (extract, load))  # a backfill, loaded and not transformed
    found, steps = _next_steps(home)
    assert steps == [
        "sales loaded but not modelled: raw.sales has deliveries core.fct_sales was not built from "
        "(ingest_date 2018-05-01): run `grocery transform --date 2018-05-01`"
    ]
    assert found.unmodelled == [date(2018, 5, 1)] and found.raw_sales_last == found.fct_sales["last"]
    _transformed(home)

    _run(home, date(2018, 5, 3), (extract,), **{"source.seed": 8})  # delivered again: other lines
    found, steps = _next_steps(home)
    assert steps == [
        "ingest_date=2018-05-03 was landed again after its last load, and the warehouse holds the earlier "
        "landing: run `grocery load --date 2018-05-03`"
    ]
    again = found.deliveries[0]
    assert (again.ingest_date, again.loaded, again.superseded) == (date(2018, 5, 3), True, True)
    printed = CliRunner().invoke(app, ["status", "--home", str(home)], env={"COLUMNS": "200"})
    rows = [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in printed.output.splitlines()
        if line.startswith("│")
    ]
    assert rows[0][:4] == ["2018-05-03", "7", str(again.sales_lines), "earlier"]

    _run(home, date(2018, 5, 3), (load,))  # now loaded: the transform is what is left to run
    found, steps = _next_steps(home)
    assert not found.deliveries[0].superseded
    assert steps == [
        "sales loaded but not modelled: raw.sales has deliveries core.fct_sales was not built from "
        "(ingest_date 2018-05-03): run `grocery transform --date 2018-05-03`"
    ]
    _run(
        home, date(2018, 5, 3), (extract,), **{"source.seed": 8}
    )  # the same files landed again: no load to run
    _transformed(home)
    assert _next_steps(home)[1] == []


def test_the_days_a_transform_that_did_not_pass_owes_are_named() -> None:
    caught_up = {"rows": 9, "first": date(2018, 1, 1), "last": date(2018, 5, 11)}
    quiet = dict(
        fct_sales=caught_up, spark_runs={"segment": None, "recommend": None}, ingest_dates=[date(2018, 5, 11)]
    )
    assert behind(**quiet, unmodelled=[], owed=[date(2018, 5, 3), date(2018, 5, 11)]).next_steps() == [
        "a transform that did not pass left 2018-05-03, 2018-05-11 to rebuild: run `grocery transform --date 2018-05-11`"
    ]
    assert behind(**quiet, unmodelled=[], owed="everything").next_steps() == [
        "a transform over everything did not pass: run `grocery transform` again"
    ]
    # What the fact was built from is known, and it is all of raw.sales: no transform to run.
    assert (
        behind(unmodelled=[], ingest_dates=[date(2018, 5, 11)], spark_runs=quiet["spark_runs"]).next_steps()
        == []
    )


def test_a_landing_load_cannot_load_sends_back_to_extract_not_to_load(tmp_path: Path, delivery: Path) -> None:
    (delivery / "customers.csv").unlink()
    (delivery / "employees.csv").write_text("")
    home = tmp_path / "home"
    _run(home, date(2018, 5, 9), (extract,), delivery)
    found, steps = _next_steps(home)
    assert steps == [
        "ingest_date=2018-05-09 was landed with customers.csv missing and employees.csv empty, which load "
        "cannot load: fix the delivery, land it again with `grocery extract --date 2018-05-09`, then run "
        "`grocery load --date 2018-05-09`"
    ]
    assert found.deliveries[0].unloadable == "customers.csv missing and employees.csv empty"
    with pytest.raises(InputError, match=r"customers\.csv is missing; employees\.csv is empty"):
        _run(home, date(2018, 5, 9), (load,))


def test_a_delivery_of_several_days_is_landed_again_over_all_of_them(tmp_path: Path, delivery: Path) -> None:
    # A weekly run lands seven days under the last one's ingest date: landing only that day again
    # would drop the other six at the next load, which replaces the ingest date whole.
    (delivery / "customers.csv").unlink()
    home = tmp_path / "home"
    _run(home, DataInterval(date(2018, 5, 3), date(2018, 5, 9)), (extract,), delivery)
    _, steps = _next_steps(home)
    assert steps == [
        "ingest_date=2018-05-09 was landed with customers.csv missing, which load cannot load: fix the "
        "delivery, land it again with `grocery extract --start 2018-05-03 --end 2018-05-09`, then run "
        "`grocery load --date 2018-05-09`"
    ]


@pytest.mark.parametrize(
    "interval",
    [
        DataInterval.everything(),
        DataInterval.day(date(2018, 5, 9)),
        DataInterval(date(2018, 5, 3), date(2018, 5, 9)),
    ],
)
def test_an_interval_reads_back_from_its_text_and_gives_its_options(interval: DataInterval) -> None:
    assert DataInterval.parse(str(interval)) == interval
    assert DataInterval.from_options(*_options(interval.options())) == interval


def _options(text: str) -> tuple[date | None, date | None, date | None]:
    words = dict(zip(text.split()[::2], map(date.fromisoformat, text.split()[1::2]), strict=True))
    return words.get("--date"), words.get("--start"), words.get("--end")


def test_the_dashboard_is_named_by_the_path_that_opens_it(tmp_path: Path) -> None:
    # As a file:// URI, "%41" in the home's name would open "A" in a browser.
    home = tmp_path / "pct %41 dir" / "home"
    page = home / "lake" / "dashboard" / "index.html"
    page.parent.mkdir(parents=True)
    page.write_text("<html></html>")
    found, _ = _next_steps(home)
    assert found.dashboard == str(page)
