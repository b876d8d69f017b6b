"""The rows load quarantined, for people: `grocery quarantine`.

Load keeps every rejected record in `quarantine.<table>`: its fields as delivered (text), the line of
the file it starts on, its reasons and, for a line that could not be split into fields, the line
itself (`raw_line`). Here they are read back for one ingest date: how many per table and rule, and
the records themselves as CSV text, in file order. A record's reasons are joined by "; ", each
"rule: detail" (`rules`); the dashboard's data-quality panel counts them by the same rule.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from grocery.tables import INGEST_DATE, LINE_NUMBER, RAW_LINE, REASON, TABLES, Table
from grocery.warehouse.base import Warehouse


def rules(reason: str | None) -> list[str]:
    """The rules a quarantined record broke, from its reason ("Discount is above 1: 1.5; ...")."""
    return [part.split(":")[0].strip() for part in (reason or "unknown").split("; ")]


@dataclass(frozen=True)
class Record:
    table: str
    line_number: int | None  # the line of the delivered file it starts on
    reason: str
    text: str  # as delivered: the line, or its fields written back as CSV


@dataclass(frozen=True)
class Quarantine:
    ingest_date: date
    counts: dict[str, dict[str, int]]  # table -> rule -> records (a record may break several rules)
    totals: dict[str, int]  # table -> records
    records: list[Record]  # the first `limit` of each table, in file order

    @property
    def total(self) -> int:
        return sum(self.totals.values())


def read(warehouse: Warehouse, day: date, tables: list[Table] | None = None, limit: int = 20) -> Quarantine:
    """The quarantined records of one ingest date, in every table (or those given)."""
    counts: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    records: list[Record] = []
    for table in tables or TABLES:
        if not warehouse.exists("quarantine", table.name):
            continue
        rel, when = warehouse.relation("quarantine", table.name), f"{INGEST_DATE} = date '{day.isoformat()}'"
        by_rule: Counter[str] = Counter()
        for row in warehouse.query(
            f"select {REASON} as reason, count(*) as n from {rel} where {when} group by 1"
        ):
            totals[table.name] = totals.get(table.name, 0) + int(row["n"])
            for rule in rules(row["reason"]):
                by_rule[rule] += int(row["n"])
        if not by_rule:
            continue
        counts[table.name] = dict(by_rule.most_common())
        fields = ", ".join(table.column_names)  # no name is a keyword in DuckDB or BigQuery
        for row in warehouse.query(
            f"select {LINE_NUMBER} as line_number, {REASON} as reason, {RAW_LINE} as raw_line, {fields} "
            f"from {rel} where {when} order by {LINE_NUMBER} limit {int(limit)}"
        ):
            records.append(Record(table.name, row["line_number"], row["reason"], _as_delivered(table, row)))
    return Quarantine(day, counts, totals, records)


def _as_delivered(table: Table, row: dict[str, Any]) -> str:
    """A record's text: the line itself when it could not be split, else its fields as a CSV line."""
    if row["raw_line"] is not None:
        return row["raw_line"]
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(
        ["" if row[c] is None else row[c] for c in table.column_names]
    )
    return out.getvalue()
