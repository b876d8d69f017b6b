"""A bucketed export: each customer's sale lines in one file, laid out as Spark lays out a bucketed table.

Both Spark jobs group the lines by customer before anything else (RFM per customer and transaction,
ALS's purchases per customer and product). Read as plain Parquet files, that costs a shuffle of all
6.7 M lines at full scale. Spark skips the shuffle when it reads a table declared
`CLUSTERED BY (customer_id) INTO n BUCKETS` whose files are the ones Spark itself would write: a row
with value v in a file whose name ends in `_<b>.parquet`, b = pmod(murmur3(v, seed 42), n), as in
Spark's `HashPartitioning`. The warehouse adapter can write the export so (`Buckets.of` assigns the
rows); the jobs then declare the table over it (`table_ddl`) and group without an exchange. The
aggregations would be right with any assignment that keeps a customer in one file, but Spark also
trusts the layout for joins, so the hash here is Spark's own (tested against Spark's).

No pyspark here: the DuckDB adapter writes the files, the jobs read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SEED = 42  # Spark's seed for Murmur3Hash in HashPartitioning and bucketing
_MASK = np.uint64(0xFFFFFFFF)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return ((x << np.uint64(r)) | (x >> np.uint64(32 - r))) & _MASK


def _mix_k1(k: np.ndarray) -> np.ndarray:
    k = (k * np.uint64(0xCC9E2D51)) & _MASK
    return (_rotl(k, 15) * np.uint64(0x1B873593)) & _MASK


def _mix_h1(h: np.ndarray, k: np.ndarray) -> np.ndarray:
    return (_rotl(h ^ k, 13) * np.uint64(5) + np.uint64(0xE6546B64)) & _MASK


def _fmix(h: np.ndarray, length: int) -> np.ndarray:
    h = h ^ np.uint64(length)
    h = ((h ^ (h >> np.uint64(16))) * np.uint64(0x85EBCA6B)) & _MASK
    h = ((h ^ (h >> np.uint64(13))) * np.uint64(0xC2B2AE35)) & _MASK
    return h ^ (h >> np.uint64(16))


def murmur3_long(values: np.ndarray, seed: int = SEED) -> np.ndarray:
    """Spark's `hash()` of 64-bit integers (Murmur3_x86_32.hashLong): int32 per value."""
    v = np.asarray(values, np.int64).view(np.uint64)
    h = _mix_h1(np.full(v.shape, seed, np.uint64), _mix_k1(v & _MASK))
    h = _mix_h1(h, _mix_k1(v >> np.uint64(32)))
    return _fmix(h, 8).astype(np.uint32).view(np.int32)


@dataclass(frozen=True)
class Buckets:
    """The export's rows hashed by a BIGINT column into `count` files."""

    column: str
    count: int

    def of(self, values: np.ndarray) -> np.ndarray:
        """Each value's bucket (int32), as Spark assigns it."""
        return np.mod(murmur3_long(values).astype(np.int64), self.count).astype(np.int32)

    @property
    def null_bucket(self) -> int:
        """The bucket of a NULL: Spark's hash of a NULL is the seed itself."""
        return SEED % self.count

    def file_name(self, bucket: int, part: int = 0) -> str:
        """A file of a bucket: Spark reads the bucket from the digits after the name's last '_'."""
        return f"part-{part:05d}_{bucket:05d}.parquet"

    def table_ddl(self, table: str, columns: str, location: str) -> str:
        """Spark SQL declaring the files at location a table of these columns (DDL), bucketed so."""
        quoted = location.replace("'", "\\'")
        return (
            f"create table if not exists {table} ({columns}) using parquet "
            f"clustered by ({self.column}) into {self.count} buckets location '{quoted}'"
        )

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "count": self.count}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Buckets | None:
        return cls(str(data["column"]), int(data["count"])) if data else None
