"""DuckDBWarehouse: the embedded default, one DuckDB file with a schema per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from grocery.tables import INGEST_DATE
from grocery.warehouse.base import SCHEMAS, IngestLoad, Warehouse


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = Path(path).resolve()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = duckdb.connect(str(self.path))
            for schema in SCHEMAS:
                self._con.execute(f"create schema if not exists {schema}")
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def relation(self, schema: str, name: str) -> str:
        return f"{schema}.{_quote(name)}"

    def _ensure_table(self, load: IngestLoad) -> str:
        rel = self.relation(load.schema, load.table.name)
        cols = ", ".join(f"{_quote(n)} {k.value}" for n, k in load.columns)
        self.con.execute(f"create table if not exists {rel} ({cols})")
        return rel

    def replace_ingest(self, loads: list[IngestLoad]) -> None:
        """Replace every partition in one transaction: all loads become visible together, or none."""
        con = self.con
        con.execute("begin transaction")
        try:
            for load in loads:
                rel = self._ensure_table(load)
                names = ", ".join(_quote(n) for n, _ in load.columns)
                con.execute(f"delete from {rel} where {INGEST_DATE} = ?", [load.ingest_date])
                con.execute(
                    f"insert into {rel} ({names}) select {names} from read_parquet(?)",
                    [_local(load.parquet_uri)],
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise

    def query(self, sql: str) -> list[dict[str, Any]]:
        cur = self.con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def export_table(self, relation: str, lake_uri: str) -> None:
        target = Path(_local(lake_uri))
        target.mkdir(parents=True, exist_ok=True)
        self.con.execute(
            f"copy (select * from {relation}) to '{target / 'part-0.parquet'}' (format parquet, compression zstd)"
        )

    def load_table(self, schema: str, name: str, parquet_uri: str) -> None:
        """Replace the table in one statement: `create or replace` swaps it atomically."""
        self.con.execute(
            f"create or replace table {self.relation(schema, name)} as select * from read_parquet(?)",
            [_local(parquet_uri)],
        )

    def dbt_target(self) -> tuple[str, dict[str, str]]:
        return "duckdb", {"GROCERY_DUCKDB_PATH": str(self.path)}
