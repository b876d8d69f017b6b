"""The warehouse interface the stages use, and the raw and quarantine table layouts it holds.

Schemas (BigQuery datasets): raw, quarantine, staging, core, marts, analytics. Raw tables keep the
Kaggle column names plus `ingest_date`; quarantine tables keep every field as text plus the line
number, the raw line when it could not be split, and the reason.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from grocery.tables import INGEST_DATE, LINE_NUMBER, RAW_LINE, REASON, TABLES, Kind, Table

if TYPE_CHECKING:
    from grocery.spark.buckets import Buckets

SCHEMAS = ("raw", "quarantine", "staging", "core", "marts", "analytics")
# What the stages remember between runs, as name -> value rows (`read_state`, `write_state`). It lives in
# the core layer beside the tables it describes, so it goes when they go (a purge, a new warehouse).
STATE_TABLE = ("core", "pipeline_state")


@dataclass(frozen=True)
class IngestLoad:
    """Replace one ingest partition of a raw or quarantine table with the rows of Parquet files."""

    schema: str  # "raw" or "quarantine"
    table: Table
    ingest_date: date
    parquet_uri: str  # a file, or a glob of files, in the lake

    @property
    def columns(self) -> list[tuple[str, Kind]]:
        return table_columns(self.schema, self.table)


def table_columns(schema: str, table: Table) -> list[tuple[str, Kind]]:
    """The columns of `raw.<table>` or `quarantine.<table>`, in order."""
    if schema == "raw":
        return [(c.name, c.kind) for c in table.columns] + [(INGEST_DATE, Kind.DATE)]
    if schema == "quarantine":
        return [(c.name, Kind.TEXT) for c in table.columns] + [
            (LINE_NUMBER, Kind.INT),
            (RAW_LINE, Kind.TEXT),
            (REASON, Kind.TEXT),
            (INGEST_DATE, Kind.DATE),
        ]
    raise ValueError(f"no fixed layout for schema {schema!r}")


class Warehouse(ABC):
    """What the stages need from a warehouse."""

    kind: str
    # What `query` raises for a table or view that is not there (and for nothing else).
    missing_relation: tuple[type[Exception], ...] = ()

    @abstractmethod
    def replace_ingest(self, loads: list[IngestLoad]) -> None:
        """Replace each load's ingest partition with its Parquet rows; a reader never sees half of it."""

    @abstractmethod
    def query(self, sql: str) -> list[dict[str, Any]]:
        """Run a query; `{schema}` placeholders in relation names are resolved by the adapter."""

    @abstractmethod
    def export_table(
        self,
        relation: str,
        lake_uri: str,
        buckets: Buckets | None = None,
        columns: Sequence[str] | None = None,
    ) -> Buckets | None:
        """Write a table (e.g. core.fct_sales), or these columns of it, to a lake folder as Parquet.

        With buckets, an adapter that can writes the files of a Spark bucketed table
        (`grocery.spark.buckets`) and returns the buckets; the others write plain files, and return None.
        """

    def load_table(self, schema: str, name: str, parquet_uri: str) -> None:
        """Replace a whole table with the rows of Parquet files in the lake (a file or a glob).

        Used by `publish` for the Spark outputs (`analytics.<table>`); readers see the old table or
        the new one, never a part. Adapters that publish Spark outputs implement it.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot load {schema}.{name} from Parquet yet")

    @abstractmethod
    def check_lake(self, lake_uri: str) -> None:
        """Raise a StageError when this warehouse cannot read and write a lake there (before a stage
        moves data between them, rather than halfway)."""

    @abstractmethod
    def relation(self, schema: str, name: str) -> str:
        """The quoted, fully qualified name of a table in one of the SCHEMAS."""

    @abstractmethod
    def dbt_target(self) -> tuple[str, dict[str, str]]:
        """The dbt target name and the environment variables its profile reads."""

    @abstractmethod
    def snapshot_fingerprint(self, tables: Sequence[Table]) -> str | None:
        """A fingerprint of what the dimension models read from each `raw.<table>`: its deliveries in
        ingest-date order, each by its rows over the table's own columns. A delivery of the same rows
        as the one before it is left out, since it changes nothing the models build (one row per key,
        from the latest delivery that lists it): a new day that repeats the dimensions keeps the
        fingerprint, and any other delivery, a late or re-delivered older day included, changes it.
        None while a table does not exist. One query; stable for one adapter, not across adapters."""

    @abstractmethod
    def row_hash(self, columns: Sequence[str]) -> str:
        """The SQL of one row's 64-bit hash over these columns (nulls included), for `bit_xor`: the XOR
        of a table's row hashes fingerprints its rows in any order (`snapshot_fingerprint`,
        `grocery.spark.export.fact_state`). Equal rows cancel out, so fingerprint rows by a key as well.
        Stable for one adapter, not across adapters."""

    def deliveries_query(self, table: Table, columns: Sequence[str]) -> str:
        """Per ingest date (d) of `raw.<table>`: the delivery's rows (n) and the XOR of their hashes
        over `columns` (h), a fingerprint of each delivery (`row_hash`)."""
        return (
            f"select {INGEST_DATE} as d, count(*) as n, bit_xor({self.row_hash(columns)}) as h "
            f"from {self.relation('raw', table.name)} group by {INGEST_DATE}"
        )

    def _snapshot_query(self, tables: Sequence[Table]) -> str:
        """The query behind `snapshot_fingerprint`: per table (t) its `deliveries_query` over the
        table's own columns."""
        return " union all ".join(
            f"select '{table.name}' as t, d, n, h from ({self.deliveries_query(table, [c.name for c in table.columns])})"
            for table in tables
        )

    @staticmethod
    def _snapshot_digest(rows: Iterable[tuple[str, date, int, int]]) -> str:
        """The deliveries of `_snapshot_query`, each that repeats the one before it left out."""
        kept, before = [], {}
        for t, _, n, h in sorted(rows):
            if before.get(t) != (n, h):
                kept.append(f"{t}={n}:{h}")
            before[t] = (n, h)
        return ";".join(kept)

    @abstractmethod
    def read_state(self, name: str) -> str | None:
        """The value a stage stored under a name (STATE_TABLE), or None."""

    @abstractmethod
    def write_state(self, name: str, value: str | None) -> None:
        """Store a value under a name, replacing the one before; None forgets the name."""

    @abstractmethod
    def describe(self) -> str:
        """Where the warehouse is, for people: its kind and place."""

    # Whether other processes may read it while a stage writes it: not a DuckDB file, which one
    # process at a time may open (and a reader that opens it could make a running stage fail).
    shared = True

    def created(self) -> bool:
        """Whether the warehouse exists at all (a DuckDB file is created by its first use, so a
        reader that must not create it asks first)."""
        return True

    def purge_target(self) -> str:
        """What `purge` deletes in this warehouse, named without touching it (e.g. for a confirmation)."""
        raise NotImplementedError(f"{type(self).__name__} cannot purge yet")

    def purge(self) -> list[str]:
        """Delete every layer (SCHEMAS) with what it holds; returns what existed and went, [] when nothing.

        Idempotent: a missing layer is not an error. Used by `grocery purge` (spec.onDelete: Delete).
        """
        raise NotImplementedError(f"{type(self).__name__} cannot purge yet")

    def exists(self, schema: str, name: str) -> bool:
        """Whether a table or view can be read. A warehouse that cannot be reached at all (a locked
        file, no credentials) raises: that is not an answer about the table."""
        try:
            self.query(f"select * from {self.relation(schema, name)} where 1 = 0")
        except self.missing_relation:
            return False
        return True

    def rows_by_ingest_date(self) -> dict[date, tuple[int, int]]:
        """Rows per ingest date in raw.* and in quarantine.*, every table: (accepted, quarantined).
        One query once every table exists, as after any load; before that, the tables that do."""
        relations = [(schema, table.name) for schema in ("raw", "quarantine") for table in TABLES]

        def query(present: list[tuple[str, str]]) -> list[dict[str, Any]]:
            if not present:
                return []
            return self.query(
                " union all ".join(
                    f"select {INGEST_DATE} as d, '{schema}' as layer, count(*) as n "
                    f"from {self.relation(schema, name)} group by {INGEST_DATE}"
                    for schema, name in present
                )
            )

        try:
            rows = query(relations)
        except self.missing_relation:
            rows = query([r for r in relations if self.exists(*r)])
        counts: dict[date, dict[str, int]] = {}
        for row in rows:
            layer = counts.setdefault(row["d"], {"raw": 0, "quarantine": 0})
            layer[row["layer"]] += int(row["n"])
        return {day: (n["raw"], n["quarantine"]) for day, n in counts.items()}

    def count(self, schema: str, name: str, where: str = "true") -> int:
        rows = self.query(f"select count(*) as n from {self.relation(schema, name)} where {where}")
        return int(rows[0]["n"])

    def close(self) -> None:  # noqa: B027 - optional for adapters without connections
        """Release connections (the DuckDB file lock, before dbt opens the file)."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
