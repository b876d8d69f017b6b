"""DuckDBWarehouse: the fingerprints of raw snapshots and the state the stages keep between runs."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from grocery.tables import CATEGORIES
from grocery.warehouse.base import IngestLoad
from grocery.warehouse.duckdb import DuckDBWarehouse

ROWS = {"CategoryID": [1, 2], "CategoryName": ["Confections", "Dairy"]}


def deliver(warehouse: DuckDBWarehouse, tmp_path: Path, day: date, rows: dict[str, list]) -> None:
    path = tmp_path / f"categories-{day}.parquet"
    n = len(rows["CategoryID"])
    pq.write_table(pa.table({**rows, "ingest_date": pa.array([day] * n, pa.date32())}), path)
    warehouse.replace_ingest([IngestLoad("raw", CATEGORIES, day, str(path))])


def test_a_snapshot_fingerprint_follows_the_deliveries_a_repeat_of_the_one_before_aside(
    tmp_path: Path,
) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        assert warehouse.snapshot_fingerprint([CATEGORIES]) is None  # not loaded yet
        deliver(warehouse, tmp_path, date(2018, 1, 1), ROWS)
        first = warehouse.snapshot_fingerprint([CATEGORIES])
        assert first is not None
        deliver(warehouse, tmp_path, date(2018, 1, 2), {k: v[::-1] for k, v in ROWS.items()})
        assert warehouse.snapshot_fingerprint([CATEGORIES]) == first  # the same rows, in another order
        deliver(warehouse, tmp_path, date(2018, 1, 3), dict(ROWS, CategoryName=["Confections", "Milk"]))
        changed = warehouse.snapshot_fingerprint([CATEGORIES])
        assert changed != first
        deliver(warehouse, tmp_path, date(2018, 1, 4), {k: v[:1] for k, v in ROWS.items()})
        fewer = warehouse.snapshot_fingerprint([CATEGORIES])
        assert fewer not in (first, changed)  # a row fewer
        # A late delivery of an older day, and a re-delivery of one, change what the dimensions hold.
        deliver(warehouse, tmp_path, date(2017, 12, 31), dict(ROWS, CategoryID=[1, 3]))
        late = warehouse.snapshot_fingerprint([CATEGORIES])
        assert late not in (first, changed, fewer)
        deliver(warehouse, tmp_path, date(2018, 1, 2), dict(ROWS, CategoryName=["Sweets", "Dairy"]))
        assert warehouse.snapshot_fingerprint([CATEGORIES]) not in (first, changed, fewer, late)
        # The names swapped between the two categories: the same values, in other rows.
        deliver(warehouse, tmp_path, date(2018, 1, 2), dict(ROWS, CategoryName=ROWS["CategoryName"][::-1]))
        assert warehouse.snapshot_fingerprint([CATEGORIES]) not in (first, changed, fewer, late)
        deliver(warehouse, tmp_path, date(2018, 1, 2), ROWS)
        assert warehouse.snapshot_fingerprint([CATEGORIES]) == late  # as it was
        assert (
            warehouse.snapshot_fingerprint([CATEGORIES, dataclasses.replace(CATEGORIES, name="none")]) is None
        )


def test_state_values_are_kept_by_name_across_connections_and_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with DuckDBWarehouse(path) as warehouse:
        assert warehouse.read_state("a") is None
        warehouse.write_state("a", "one")
        warehouse.write_state("b", "two")
        warehouse.write_state("a", "three")
    with DuckDBWarehouse(path) as warehouse:
        assert (warehouse.read_state("a"), warehouse.read_state("b")) == ("three", "two")
        warehouse.write_state("a", None)
        warehouse.write_state("missing", None)
        assert (warehouse.read_state("a"), warehouse.read_state("b")) == (None, "two")
        assert warehouse.query("select count(*) as n from core.pipeline_state") == [{"n": 1}]


def test_a_warehouse_another_process_holds_is_one_line_of_error_in_every_reader(tmp_path: Path) -> None:
    import subprocess
    import sys

    import pytest
    from pipeline_support import make_context

    from grocery.config import DashboardSpec
    from grocery.dashboard.data import collect
    from grocery.errors import StageError
    from grocery.spark.export import fact_state

    home = tmp_path / "home"
    path = home / "warehouse.duckdb"
    with DuckDBWarehouse(path) as warehouse:
        deliver(warehouse, tmp_path, date(2018, 1, 1), ROWS)
    hold = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        held = f"cannot open the DuckDB warehouse {path.resolve()}: IO Error: Could not set lock on file"
        with DuckDBWarehouse(path) as warehouse, pytest.raises(StageError, match=held) as raised:
            warehouse.query("select 1")
        assert "close what holds it open" in (raised.value.hint or "")
        # Readers that take a failed query for a missing table do not take this one for that.
        ctx = make_context(home)
        with pytest.raises(StageError, match=held):
            fact_state(ctx)  # not "the warehouse has no core.fct_sales yet"
        with pytest.raises(StageError, match=held):
            collect(ctx.warehouse, DashboardSpec())  # not "the dashboard needs marts..."
        ctx.close()
    finally:
        holder.communicate("")


def test_a_fact_transform_has_not_built_yet_is_named_with_the_stage_that_builds_it(tmp_path: Path) -> None:
    import pytest
    from pipeline_support import make_context

    from grocery.errors import StageError
    from grocery.spark.export import fact_state

    with DuckDBWarehouse(tmp_path / "home" / "warehouse.duckdb") as warehouse:
        deliver(warehouse, tmp_path, date(2018, 1, 1), ROWS)  # raw tables, no core.fct_sales
    ctx = make_context(tmp_path / "home")
    with pytest.raises(StageError) as raised:
        fact_state(ctx)
    assert (raised.value.message, raised.value.hint) == (
        "the warehouse has no core.fct_sales yet",
        "run `grocery transform` first",
    )
    ctx.close()


def test_a_lake_in_cloud_storage_is_refused_before_the_load_does_anything(
    tmp_path: Path, monkeypatch
) -> None:
    """DuckDB reads the lake's files from this machine: a gs:// lake beside it stops the load at once."""
    import pytest
    from pipeline_support import make_context

    from grocery import load
    from grocery.errors import StageError

    pytest.importorskip("gcsfs")
    monkeypatch.setenv(
        "GROCERY_GCS_ENDPOINT", "http://127.0.0.1:1"
    )  # nothing listens: no request may be made
    ctx = make_context(tmp_path / "home", lake="gs://bucket/lake")
    with pytest.raises(
        StageError,
        match="a DuckDB warehouse reads the lake from this machine, and gs://bucket/lake is not on it",
    ) as raised:
        load.run(ctx)
    assert "warehouse kind bigquery" in (raised.value.hint or "")
    ctx.close()


def test_a_damaged_warehouse_file_says_how_to_build_it_anew_from_the_lake(tmp_path: Path) -> None:
    import pytest

    from grocery.errors import StageError

    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(b"not a database" * 1000)
    with DuckDBWarehouse(path) as warehouse, pytest.raises(StageError) as raised:
        warehouse.query("select 1")
    assert "is not a valid DuckDB database file" in raised.value.message
    assert (raised.value.hint or "").startswith("move the file away; the lake keeps every delivery")
