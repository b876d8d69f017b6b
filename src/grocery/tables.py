"""The seven tables of the Kaggle "Grocery Sales Dataset" and the data contract each row must meet.

This is the one place that knows the raw files: their names, their exact column names and order,
the type of every column, which columns are required, their ranges and allowed values, the primary
key and the foreign keys. The generator writes files from it, the load stage checks rows against it,
and the warehouse creates its `raw` and `quarantine` tables from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """How a raw text field is typed."""

    INT = "BIGINT"
    FLOAT = "DOUBLE"
    TEXT = "VARCHAR"
    TIMESTAMP = "TIMESTAMP"
    DATE = "DATE"


@dataclass(frozen=True)
class Column:
    """One column of a raw file, as the contract sees it."""

    name: str
    kind: Kind
    required: bool = True
    min: float | None = None
    max: float | None = None
    # An upper bound that is excluded, for ranges such as Discount in [0, 1).
    below: float | None = None
    allowed: tuple[str, ...] | None = None
    references: str | None = None  # "table.Column"


@dataclass(frozen=True)
class Table:
    """One raw file of the dataset."""

    name: str
    columns: tuple[Column, ...]
    key: str
    # Columns flagged and counted when empty instead of rejected (kept, never silently dropped).
    flagged_when_empty: tuple[str, ...] = field(default_factory=tuple)
    # The column whose date places a row in a data interval (None: a snapshot, whatever the interval).
    dated_by: str | None = None

    @property
    def file_name(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def foreign_keys(self) -> list[tuple[Column, str, str]]:
        """(column, referenced table, referenced column) for every foreign key."""
        out = []
        for c in self.columns:
            if c.references:
                table, col = c.references.split(".")
                out.append((c, table, col))
        return out


def _id(name: str, references: str | None = None, required: bool = True) -> Column:
    return Column(name, Kind.INT, required=required, min=1, references=references)


CATEGORIES = Table(
    "categories",
    (_id("CategoryID"), Column("CategoryName", Kind.TEXT)),
    key="CategoryID",
)
COUNTRIES = Table(
    "countries",
    (
        _id("CountryID"),
        Column("CountryName", Kind.TEXT),
        # Australia's code is the string "NA": it must never be read as a missing value.
        Column("CountryCode", Kind.TEXT, required=False),
    ),
    key="CountryID",
)
CITIES = Table(
    "cities",
    (
        _id("CityID"),
        Column("CityName", Kind.TEXT),
        Column("Zipcode", Kind.TEXT, required=False),
        _id("CountryID", references="countries.CountryID"),
    ),
    key="CityID",
)
CUSTOMERS = Table(
    "customers",
    (
        _id("CustomerID"),
        Column("FirstName", Kind.TEXT),
        Column("MiddleInitial", Kind.TEXT, required=False),
        Column("LastName", Kind.TEXT),
        _id("CityID", references="cities.CityID"),
        Column("Address", Kind.TEXT, required=False),
    ),
    key="CustomerID",
)
EMPLOYEES = Table(
    "employees",
    (
        _id("EmployeeID"),
        Column("FirstName", Kind.TEXT),
        Column("MiddleInitial", Kind.TEXT, required=False),
        Column("LastName", Kind.TEXT),
        Column("BirthDate", Kind.DATE, required=False),
        Column("Gender", Kind.TEXT, required=False, allowed=("M", "F")),
        _id("CityID", references="cities.CityID"),
        Column("HireDate", Kind.TIMESTAMP, required=False),
    ),
    key="EmployeeID",
)
PRODUCTS = Table(
    "products",
    (
        _id("ProductID"),
        Column("ProductName", Kind.TEXT),
        Column("Price", Kind.FLOAT, min=0),
        _id("CategoryID", references="categories.CategoryID"),
        Column("Class", Kind.TEXT, required=False, allowed=("Low", "Medium", "High")),
        Column("ModifyDate", Kind.TIMESTAMP, required=False),
        Column("Resistant", Kind.TEXT, required=False, allowed=("Durable", "Weak", "Unknown")),
        Column("IsAllergic", Kind.TEXT, required=False, allowed=("TRUE", "FALSE", "Unknown")),
        Column("VitalityDays", Kind.INT, required=False, min=0),
    ),
    key="ProductID",
)
SALES = Table(
    "sales",
    (
        _id("SalesID"),
        _id("SalesPersonID", references="employees.EmployeeID"),
        _id("CustomerID", references="customers.CustomerID"),
        _id("ProductID", references="products.ProductID"),
        Column("Quantity", Kind.INT, min=1),
        Column("Discount", Kind.FLOAT, min=0, below=1),
        # Always 0 in the published data: revenue is computed downstream, never read from here.
        Column("TotalPrice", Kind.FLOAT, required=False, min=0),
        Column("SalesDate", Kind.TIMESTAMP, required=False),
        Column("TransactionNumber", Kind.TEXT, required=False),
    ),
    key="SalesID",
    flagged_when_empty=("SalesDate",),
    dated_by="SalesDate",
)

# In dependency order: a table comes after every table it references.
TABLES: tuple[Table, ...] = (CATEGORIES, COUNTRIES, CITIES, CUSTOMERS, EMPLOYEES, PRODUCTS, SALES)
BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
DIMENSIONS: tuple[Table, ...] = tuple(t for t in TABLES if t is not SALES)

# Columns the pipeline adds to every raw and quarantine row.
INGEST_DATE = "ingest_date"
REASON = "reason"
LINE_NUMBER = "line_number"
RAW_LINE = "raw_line"


def table(name: str) -> Table:
    """Look a table up by name, with a clear error for an unknown one."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(BY_NAME)}") from None
