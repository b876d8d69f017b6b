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


def test_a_snapshot_fingerprint_follows_the_latest_rows_not_the_ingest_date(tmp_path: Path) -> None:
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
        assert warehouse.snapshot_fingerprint([CATEGORIES]) not in (first, changed)  # a row fewer
        deliver(warehouse, tmp_path, date(2017, 12, 31), dict(ROWS, CategoryID=[1, 3]))
        assert warehouse.snapshot_fingerprint([CATEGORIES]) not in (first, changed)  # only the latest counts
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
