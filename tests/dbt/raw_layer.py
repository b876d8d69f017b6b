"""A small, consistent raw layer for the dbt project's tests, loaded the real way.

Rows are written to Parquet with the contract's column types and loaded with
`DuckDBWarehouse.replace_ingest`, exactly as the load stage does; `Pipeline.transform` then runs the
transform stage on that warehouse. (A plain module rather than a conftest.py: `tests/conftest.py`
is imported by name elsewhere, and a second conftest module would shadow it.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from grocery import tables
from grocery.config import PipelineSpec
from grocery.context import Context
from grocery.interval import DataInterval
from grocery.stages import StageResult
from grocery.tables import INGEST_DATE, Kind, Table
from grocery.warehouse.base import IngestLoad
from grocery.warehouse.duckdb import DuckDBWarehouse

_ARROW_TYPES = {
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float64(),
    Kind.TEXT: pa.string(),
    Kind.TIMESTAMP: pa.timestamp("us"),
    Kind.DATE: pa.date32(),
}

Rows = Sequence[Mapping[str, Any]]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def d(text: str) -> date:
    return date.fromisoformat(text)


# A consistent little world: 2 countries, 3 cities, 4 customers (one never buys), 2 employees,
# 3 products in 2 categories. Prices and discounts are exact in binary floating point.
CATEGORIES = [{"CategoryID": 1, "CategoryName": "Confections"}, {"CategoryID": 2, "CategoryName": "Dairy"}]
COUNTRIES = [
    {"CountryID": 1, "CountryName": "United States", "CountryCode": "US"},
    {"CountryID": 2, "CountryName": "Australia", "CountryCode": "NA"},
]
CITIES = [
    {"CityID": 1, "CityName": "Dayton", "Zipcode": "80563", "CountryID": 1},
    {"CityID": 2, "CityName": "Buffalo", "Zipcode": "17420", "CountryID": 1},
    {"CityID": 3, "CityName": "Perth", "Zipcode": None, "CountryID": 2},
]
CUSTOMERS = [
    {
        "CustomerID": 1,
        "FirstName": "Ann",
        "MiddleInitial": "B",
        "LastName": "Lee",
        "CityID": 1,
        "Address": "1 Elm St",
    },
    {
        "CustomerID": 2,
        "FirstName": "Bob",
        "MiddleInitial": None,
        "LastName": "Roe",
        "CityID": 1,
        "Address": "2 Oak St",
    },
    {
        "CustomerID": 3,
        "FirstName": "Cy",
        "MiddleInitial": "D",
        "LastName": "Poe",
        "CityID": 2,
        "Address": None,
    },
    {
        "CustomerID": 4,
        "FirstName": "Di",
        "MiddleInitial": "E",
        "LastName": "Kay",
        "CityID": 3,
        "Address": "4 Bay Rd",
    },
]
EMPLOYEES = [
    {
        "EmployeeID": 1,
        "FirstName": "Eve",
        "MiddleInitial": "R",
        "LastName": "Ray",
        "BirthDate": d("1981-03-07"),
        "Gender": "F",
        "CityID": 1,
        "HireDate": ts("2011-06-20 00:00:00"),
    },
    {
        "EmployeeID": 2,
        "FirstName": "Max",
        "MiddleInitial": None,
        "LastName": "Fox",
        "BirthDate": None,
        "Gender": "M",
        "CityID": 2,
        "HireDate": None,
    },
]
PRODUCTS = [
    {
        "ProductID": 10,
        "ProductName": "Flour",
        "Price": 2.5,
        "CategoryID": 1,
        "Class": "Low",
        "ModifyDate": ts("2018-01-01 00:00:00"),
        "Resistant": "Durable",
        "IsAllergic": "FALSE",
        "VitalityDays": 0,
    },
    {
        "ProductID": 11,
        "ProductName": "Milk",
        "Price": 4.0,
        "CategoryID": 2,
        "Class": "Medium",
        "ModifyDate": None,
        "Resistant": "Weak",
        "IsAllergic": "Unknown",
        "VitalityDays": 7,
    },
    {
        "ProductID": 12,
        "ProductName": "Cake",
        "Price": 10.0,
        "CategoryID": 1,
        "Class": "High",
        "ModifyDate": None,
        "Resistant": "Unknown",
        "IsAllergic": "TRUE",
        "VitalityDays": None,
    },
]
DIMENSIONS: dict[str, list[dict[str, Any]]] = {
    "categories": CATEGORIES,
    "countries": COUNTRIES,
    "cities": CITIES,
    "customers": CUSTOMERS,
    "employees": EMPLOYEES,
    "products": PRODUCTS,
}


def sale(
    sales_id: int,
    when: str | None,
    customer: int,
    product: int,
    quantity: int,
    discount: float = 0.0,
    employee: int = 1,
    transaction: str | None = None,
) -> dict[str, Any]:
    """One sales.csv row; TotalPrice is 0 as in the published data. The transaction number is
    T<sales_id> unless given; "" leaves it empty (the field is optional)."""
    return {
        "SalesID": sales_id,
        "SalesPersonID": employee,
        "CustomerID": customer,
        "ProductID": product,
        "Quantity": quantity,
        "Discount": discount,
        "TotalPrice": 0.0,
        "SalesDate": ts(when) if when else None,
        "TransactionNumber": f"T{sales_id:04d}" if transaction is None else transaction or None,
    }


def write_parquet(table: Table, day: date, rows: Rows, folder: Path) -> Path:
    """Rows of one raw table as typed Parquet, with the ingest_date column, as the load stage writes them."""
    schema = pa.schema(
        [pa.field(c.name, _ARROW_TYPES[c.kind]) for c in table.columns] + [pa.field(INGEST_DATE, pa.date32())]
    )
    data = {c.name: [row.get(c.name) for row in rows] for c in table.columns}
    data[INGEST_DATE] = [day] * len(rows)
    path = folder / f"{table.name}-{day.isoformat()}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data, schema=schema), path)
    return path


@dataclass
class Pipeline:
    """A warehouse under tmp_path, with the helpers to ingest deliveries and run the transform stage."""

    home: Path

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    def ingest(self, day: str, sales: Rows, **dimension_overrides: Rows) -> None:
        """Load one delivery: all seven tables, the dimensions as full snapshots (defaults unless overridden)."""
        ingest_date = d(day)
        folder = self.home / "parquet"
        loads = []
        for table in tables.TABLES:
            rows = (
                sales
                if table is tables.SALES
                else dimension_overrides.get(table.name, DIMENSIONS[table.name])
            )
            loads.append(
                IngestLoad("raw", table, ingest_date, str(write_parquet(table, ingest_date, rows, folder)))
            )
        with DuckDBWarehouse(self.warehouse_path) as warehouse:
            warehouse.replace_ingest(loads)

    def context(self, start: str | None = None, end: str | None = None) -> Context:
        spec = PipelineSpec.model_validate(
            {"warehouse": {"kind": "duckdb", "path": str(self.warehouse_path)}}
        )
        interval = DataInterval(d(start), d(end)) if start and end else DataInterval.everything()
        return Context(spec=spec, home=self.home, interval=interval)

    def transform(self, start: str | None = None, end: str | None = None) -> StageResult:
        from grocery.transform import run

        ctx = self.context(start, end)
        try:
            return run(ctx)
        finally:
            ctx.close()

    def query(self, sql: str) -> list[dict[str, Any]]:
        with DuckDBWarehouse(self.warehouse_path) as warehouse:
            return warehouse.query(sql)


def make_pipeline(home: Path) -> Pipeline:
    home.mkdir(parents=True, exist_ok=True)
    return Pipeline(home)
