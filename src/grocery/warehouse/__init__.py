"""Warehouse adapters: one interface (`Warehouse`), chosen by `spec.warehouse.kind`."""

from __future__ import annotations

from pathlib import Path

from grocery.config import BigQueryWarehouseSpec, DuckDBWarehouseSpec
from grocery.errors import ConfigError
from grocery.warehouse.base import IngestLoad, Warehouse

__all__ = ["IngestLoad", "Warehouse", "check_warehouse", "open_warehouse"]

# Where a URL's path ends. dbt-duckdb reads the warehouse's path as a URL and names the database
# after its last part, so a path holding one of these opens under a name that is not the database's.
_URL_CUTS = ("#", "?")


def _duckdb_path(spec: DuckDBWarehouseSpec, home: Path) -> Path:
    return Path(spec.path) if spec.path else home / "warehouse.duckdb"


def check_duckdb_path(path: Path) -> Path:
    """The absolute path of a DuckDB warehouse, or a ConfigError when dbt could not use it."""
    path = Path(path).resolve()
    if cut := next((c for c in _URL_CUTS if c in str(path)), None):
        raise ConfigError(
            f"the DuckDB warehouse {path} has {cut!r} in its path, where dbt-duckdb, which reads the"
            " path as a URL, would cut it",
            hint=f"use a --home (or warehouse path) without {' or '.join(map(repr, _URL_CUTS))}",
        )
    return path


def check_warehouse(spec: DuckDBWarehouseSpec | BigQueryWarehouseSpec, home: Path) -> None:
    """Refuse a warehouse that cannot work before any stage runs (opening one waits for its first use)."""
    if isinstance(spec, DuckDBWarehouseSpec):
        check_duckdb_path(_duckdb_path(spec, home))


def open_warehouse(spec: DuckDBWarehouseSpec | BigQueryWarehouseSpec, home: Path) -> Warehouse:
    """Open the warehouse a spec names."""
    if isinstance(spec, BigQueryWarehouseSpec):
        from grocery.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse.from_spec(spec)
    from grocery.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(_duckdb_path(spec, home))
