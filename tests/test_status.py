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
        and line.endswith("run `grocery extract --date 2018-05-11` again")
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
