"""Warehouse adapters: one interface (`Warehouse`), chosen by `spec.warehouse.kind`."""

from __future__ import annotations

from pathlib import Path

from grocery.config import BigQueryWarehouseSpec, DuckDBWarehouseSpec
from grocery.warehouse.base import IngestLoad, Warehouse

__all__ = ["IngestLoad", "Warehouse", "open_warehouse"]


def open_warehouse(spec: DuckDBWarehouseSpec | BigQueryWarehouseSpec, home: Path) -> Warehouse:
    """Open the warehouse a spec names."""
    if isinstance(spec, BigQueryWarehouseSpec):
        from grocery.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse.from_spec(spec)
    from grocery.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(Path(spec.path) if spec.path else home / "warehouse.duckdb")
