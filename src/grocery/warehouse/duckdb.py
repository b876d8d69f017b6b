"""DuckDBWarehouse: the embedded default, one DuckDB file with a schema per layer.

Building the adapter touches nothing: the file (and its folder) is created on first use.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from grocery.errors import StageError, make_folder
from grocery.lake import partition_folders, partition_kind
from grocery.tables import INGEST_DATE, Table
from grocery.warehouse import check_duckdb_path
from grocery.warehouse.base import SCHEMAS, STATE_TABLE, IngestLoad, Warehouse

if TYPE_CHECKING:
    from grocery.spark.buckets import Buckets

# Set on every connection that writes the warehouse file, dbt's included (through its environment).
# DuckDB tries every string compression on a column before it writes one. For the sales tables'
# transaction numbers (6.7 M random 20-character strings) the FSST variants win nothing but the
# analysis doubles the write: at full scale a copy of raw.sales takes 3.0 s with them and 1.5 s
# without, and reads run as fast. Dictionary compression stays for the low-cardinality strings.
DISABLED_COMPRESSION = "fsst,dict_fsst"
DISABLED_COMPRESSION_ENV = "GROCERY_DUCKDB_DISABLED_COMPRESSION"


# What to do about a warehouse file that is damaged: everything in it comes from the lake.
_REBUILD_HINT = (
    "move the file away; the lake keeps every delivery, so `grocery load --date D` for each one "
    "(`grocery status` lists them) and `grocery transform` build it anew"
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _local(uri: str) -> str:
    """The local path of a lake URI (or a path): DuckDB reads and writes the lake on this machine only."""
    if "://" in uri and not uri.startswith("file://"):
        raise StageError(
            f"a DuckDB warehouse reads the lake from this machine, and {uri.split('/*')[0]} is not on it",
            hint="leave lake: out of grocery.yaml for a lake in the home, or use warehouse kind bigquery",
        )
    return uri.removeprefix("file://")


class DuckDBWarehouse(Warehouse):
    kind = "duckdb"
    shared = False
    missing_relation = (duckdb.CatalogException,)

    def __init__(self, path: Path) -> None:
        self.path = check_duckdb_path(path)
        self._con: duckdb.DuckDBPyConnection | None = None

    def check_lake(self, lake_uri: str) -> None:
        _local(lake_uri)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            make_folder(self.path.parent, "the folder of the DuckDB warehouse")
            try:
                self._con = duckdb.connect(str(self.path))
            except duckdb.IOException as exc:  # most often: another process holds the file's lock
                damaged = "not a valid DuckDB database file" in str(exc)
                raise StageError(
                    f"cannot open the DuckDB warehouse {self.path}: {_first_line(exc)}",
                    hint=_REBUILD_HINT
                    if damaged
                    else "close what holds it open, a DuckDB client, a notebook or another grocery command, and run again",
                ) from None
            # A SET, as dbt-duckdb does: DuckDB 2.0 ignores this setting in connect()'s config.
            self._con.execute(f"set disabled_compression_methods = '{DISABLED_COMPRESSION}'")
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
                    f"insert into {rel} ({names}) select {names} from read_parquet(?, hive_partitioning = false)",
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

    def row_hash(self, columns: Sequence[str]) -> str:
        # DuckDB's hash() of several values XORs the hash of the last one into a mix of the others,
        # so a XOR over rows sees that column apart from the rest: its values swapped between two
        # rows would go unseen. Hashing that hash again mixes every column into every bit.
        return f"hash(hash({', '.join(_quote(c) for c in columns)}))"

    def snapshot_fingerprint(self, tables: Sequence[Table]) -> str | None:
        try:
            return self._snapshot_digest(self.con.execute(self._snapshot_query(tables)).fetchall())
        except duckdb.CatalogException:
            return None

    def read_state(self, name: str) -> str | None:
        try:
            row = self.con.execute(
                f"select value from {self.relation(*STATE_TABLE)} where name = ?", [name]
            ).fetchone()
        except duckdb.CatalogException:  # never written
            return None
        return row[0] if row else None

    def write_state(self, name: str, value: str | None) -> None:
        rel = self.relation(*STATE_TABLE)
        self.con.execute(
            f"create table if not exists {rel} (name varchar primary key, value varchar not null)"
        )
        if value is None:
            self.con.execute(f"delete from {rel} where name = ?", [name])
        else:
            self.con.execute(f"insert or replace into {rel} values (?, ?)", [name, value])

    def export_table(
        self,
        relation: str,
        lake_uri: str,
        buckets: Buckets | None = None,
        columns: Sequence[str] | None = None,
    ) -> Buckets | None:
        """One Parquet file, or with buckets one per bucket (the rows assigned by `Buckets.of`)."""
        selected = ", ".join(_quote(c) for c in columns) if columns else "*"
        relation = f"(select {selected} from {relation})"
        target = Path(_local(lake_uri))
        target.mkdir(parents=True, exist_ok=True)
        # Snappy, not zstd: the export is rewritten on every run and read once by Spark, and at full
        # scale snappy writes it in about half the time (2.3 s against 4.2 s) for 1.5x the bytes.
        options = "format parquet, compression snappy"
        if buckets is None:
            self.con.execute(f"copy (select * from {relation}) to '{target / 'part-0.parquet'}' ({options})")
            return None
        # Each distinct value's bucket, computed once in numpy, then joined to the rows; DuckDB writes
        # a folder per bucket (the bucket column left out of the files), renamed as Spark names them.
        key = _quote(buckets.column)
        values = self.con.execute(
            f"select distinct {key} from {relation} where {key} is not null"
        ).fetchnumpy()
        assigned = pa.table({"value": values[buckets.column], "bucket": buckets.of(values[buckets.column])})
        scratch = target / "_buckets"  # readers skip names that start with "_"
        self.con.register("export_buckets", assigned)
        try:
            self.con.execute(
                f"copy (select t.*, coalesce(b.bucket, {buckets.null_bucket}) as _bucket from {relation} t "
                f"left join export_buckets b on t.{key} = b.value) "
                f"to '{scratch}' ({options}, partition_by (_bucket), filename_pattern 'part_{{i}}')"
            )
        finally:
            self.con.unregister("export_buckets")
        for folder in scratch.glob("_bucket=*"):
            bucket = int(folder.name.split("=", 1)[1])
            for part, file in enumerate(sorted(folder.glob("*.parquet"))):
                file.rename(target / buckets.file_name(bucket, part))
        shutil.rmtree(scratch)
        return buckets

    def load_table(self, schema: str, name: str, parquet_uri: str) -> None:
        """Replace the table in one statement: `create or replace` swaps it atomically. The partition
        folders above the files become typed columns (`run_date=D` a DATE), and only those: DuckDB's
        own Hive reading would take any `name=value` folder of the whole path for one."""
        _, folders = partition_folders(parquet_uri)
        columns = "".join(
            f", cast({_literal(value)} as {partition_kind(value).value}) as {_quote(key)}"
            for key, value in folders
        )
        self.con.execute(
            f"create or replace table {self.relation(schema, name)} as "
            f"select *{columns} from read_parquet(?, hive_partitioning = false)",
            [_local(parquet_uri)],
        )

    def dbt_target(self) -> tuple[str, dict[str, str]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # dbt opens (and creates) the file itself
        return "duckdb", {
            "GROCERY_DUCKDB_PATH": str(self.path),
            DISABLED_COMPRESSION_ENV: DISABLED_COMPRESSION,
        }

    def describe(self) -> str:
        return f"DuckDB {self.path}"

    def created(self) -> bool:
        return self.path.exists()

    def purge_target(self) -> str:
        return f"the DuckDB warehouse {self.path} (schemas {', '.join(SCHEMAS)})"

    def purge(self) -> list[str]:
        """Drop the layer schemas with their tables and views; delete the file when nothing else is left in it.

        A missing file is not created. A file another process holds open is a StageError.
        """
        if not self.path.exists():
            return []
        self.close()
        try:
            con = duckdb.connect(str(self.path))
        except duckdb.Error as exc:
            damaged = "not a valid DuckDB database file" in str(exc)
            raise StageError(
                f"cannot open {self.path} to delete its schemas: {_first_line(exc)}",
                # Not ours to delete: the spec may name another file by mistake.
                hint=f"if {self.path.name} is the damaged warehouse, delete it yourself"
                if damaged
                else "stop what holds it open (a running stage, a DuckDB client), then run purge again",
            ) from None
        try:
            schemas = {
                name
                for (name,) in con.execute(
                    "select schema_name from information_schema.schemata where catalog_name = current_database()"
                ).fetchall()
            }
            objects: dict[str, dict[str, int]] = {}
            for schema, kind, n in con.execute(
                "select table_schema, table_type, count(*) from information_schema.tables"
                " where table_catalog = current_database() group by all"
            ).fetchall():
                objects.setdefault(schema, {})["view" if kind == "VIEW" else "table"] = n
            dropped = [s for s in SCHEMAS if s in schemas]
            for schema in dropped:
                con.execute(f"drop schema {_quote(schema)} cascade")
            con.execute("checkpoint")
            others = sum(sum(kinds.values()) for schema, kinds in objects.items() if schema not in SCHEMAS)
        finally:
            con.close()
        layers = ", ".join(f"{s} ({_counted(objects.get(s, {}))})" for s in dropped)
        if others:
            return [f"the DuckDB schemas {layers} in {self.path}"] if dropped else []
        for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
            leftover.unlink(missing_ok=True)
        return [f"the DuckDB file {self.path}" + (f" (schemas {layers})" if dropped else "")]


def _counted(kinds: dict[str, int]) -> str:
    """Object counts for people, e.g. `7 tables`, `1 table, 2 views`, `empty`."""
    parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(kinds.items()) if n]
    return ", ".join(parts) or "empty"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
