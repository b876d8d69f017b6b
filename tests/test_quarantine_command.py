"""`grocery quarantine`: the records load quarantined for an ingest date, as delivered, with their reasons."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from pipeline_support import make_context
from typer.testing import CliRunner

from grocery import extract, load, quarantined
from grocery.cli import app
from grocery.interval import DataInterval
from grocery.tables import table

DAY = date(2018, 5, 9)
BAD_SALES = [
    "900001,1,1,1,1,1.5,0.0,2018-05-09 10:00:00.000,T",  # Discount >= 1
    "not,a,sale",  # malformed: three fields
    '"x, y",1,1,1,-2,0,0,2018-05-09 10:00:00.000,X',  # SalesID not an int, Quantity below 1
]


@pytest.fixture
def home(tmp_path: Path, delivery: Path) -> tuple[Path, dict[str, int]]:
    """A home whose one delivery has three bad sales lines and one bad customer; the line of each."""
    lines = {}
    with open(delivery / "sales.csv", "a") as f:
        f.write("".join(line + "\n" for line in BAD_SALES))
    sales = (delivery / "sales.csv").read_text().splitlines()
    for n in range(len(BAD_SALES)):
        lines[f"sales {n}"] = len(sales) - len(BAD_SALES) + n + 1
    customers = (delivery / "customers.csv").read_text().splitlines()
    # A customer of its own: breaking one with sales would quarantine those sales too.
    (delivery / "customers.csv").write_text("\n".join([*customers, "abc,Zed,,Quo,1,1 Elm St"]) + "\n")
    lines["customer"] = len(customers) + 1
    ctx = make_context(tmp_path / "home", delivery)
    extract.run(ctx)
    load.run(ctx)
    ctx.close()
    return tmp_path / "home", lines


def test_a_reason_names_its_rules_without_their_details() -> None:
    assert quarantined.rules("Discount must be below 1: 1.5; Quantity is below 1: -2") == [
        "Discount must be below 1",
        "Quantity is below 1",
    ]
    assert quarantined.rules(None) == ["unknown"]


def test_the_quarantined_records_come_back_as_delivered_in_file_order(home) -> None:
    path, lines = home
    ctx = make_context(path)
    found = quarantined.read(ctx.warehouse, DAY)
    ctx.close()
    assert found.totals == {"customers": 1, "sales": 3} and found.total == 4
    assert found.counts["sales"] == {
        "Discount must be below 1": 1,
        "malformed line": 1,
        "SalesID is not a valid int": 1,
        "Quantity is below 1": 1,
    }
    customer, *sales = found.records
    assert (customer.table, customer.line_number) == ("customers", lines["customer"])
    assert customer.reason.startswith("CustomerID is not a valid int: abc")
    assert [(r.line_number, r.text) for r in sales] == [(lines[f"sales {n}"], BAD_SALES[n]) for n in range(3)]
    assert sales[1].reason.startswith("malformed line: ")

    only = quarantined.read(make_context(path).warehouse, DAY, [table("sales")], limit=1)
    assert only.totals == {"sales": 3} and [r.line_number for r in only.records] == [lines["sales 0"]]


def test_the_command_prints_the_counts_and_the_records(home) -> None:
    path, lines = home
    printed = CliRunner().invoke(app, ["quarantine", "--home", str(path)], env={"COLUMNS": "200"})
    assert printed.exit_code == 0, printed.output
    output = printed.output.splitlines()
    assert output[0] == "4 quarantined rows for ingest_date=2018-05-09 (customers 1, sales 3)"
    assert "  sales              1  malformed line" in output
    print(printed.output)
    assert any(str(lines["sales 1"]) in line and "not,a,sale" in line for line in output)

    as_json = json.loads(
        CliRunner().invoke(app, ["quarantine", "--home", str(path), "--table", "sales", "--json"]).output
    )
    assert as_json["totals"] == {"sales": 3}
    assert [r["text"] for r in as_json["records"]] == BAD_SALES

    only_customers = CliRunner().invoke(app, ["quarantine", "--home", str(path), "--table", "employees"])
    assert only_customers.output.strip() == "no quarantined rows for ingest_date=2018-05-09, employees"


def test_a_delivery_landed_but_not_loaded_is_said_so(home, tmp_path: Path) -> None:
    path, _ = home
    extract.run(make_context(path, interval=DataInterval.day(date(2018, 5, 10)), **{"source.scale": 0.001}))
    printed = CliRunner().invoke(app, ["quarantine", "--home", str(path)])
    assert printed.exit_code != 0
    assert (
        "ingest_date=2018-05-10 has not been loaded (run `grocery load --date 2018-05-10` first)"
        in printed.output
    )
    landed_only = tmp_path / "landed-only"
    extract.run(
        make_context(landed_only, interval=DataInterval.day(date(2018, 5, 10)), **{"source.scale": 0.001})
    )
    assert "has not been loaded" in CliRunner().invoke(app, ["quarantine", "--home", str(landed_only)]).output
    assert not (landed_only / "warehouse.duckdb").exists()


def test_an_unknown_table_or_an_empty_home_is_one_line(tmp_path: Path) -> None:
    unknown = CliRunner().invoke(app, ["quarantine", "--home", str(tmp_path), "--table", "orders"])
    assert unknown.exit_code != 0
    assert "no table 'orders' (--table is one of categories, countries, cities, customers," in unknown.output
    never = CliRunner().invoke(app, ["quarantine", "--home", str(tmp_path / "never")])
    assert never.exit_code == 1, never.output
    assert never.output == (
        f"error: no home at {tmp_path / 'never'} (run `grocery run` (or `grocery extract`) with this --home first)\n"
    )
    assert not (tmp_path / "never").exists()  # it only reads: neither the home nor its lake is made
    empty = CliRunner().invoke(app, ["quarantine", "--home", str(tmp_path)])
    assert empty.exit_code == 1
    assert f"nothing has been extracted into {(tmp_path / 'lake').as_uri()} yet" in empty.output
    assert not (tmp_path / "lake").exists()


def test_square_brackets_in_a_quarantined_line_are_printed_as_they_are(
    tmp_path: Path, delivery: Path
) -> None:
    """A quarantined value is never rich markup: "[/oops]" is no closing tag to fail on, "[red]" shows."""
    line = "900001,1,1,1,[/oops],0,0,2018-05-09 10:00:00.000,[red]T"
    with open(delivery / "sales.csv", "a") as f:
        f.write(line + "\n")
    ctx = make_context(tmp_path / "home", delivery)
    extract.run(ctx)
    load.run(ctx)
    ctx.close()
    printed = CliRunner().invoke(
        app, ["quarantine", "--home", str(tmp_path / "home")], env={"COLUMNS": "250"}
    )
    assert printed.exit_code == 0, printed.output
    cells = [
        [c.strip() for c in row.split("│")[1:-1]]
        for row in printed.output.splitlines()
        if row.startswith("│")
    ]
    assert cells[0][2:] == ["Quantity is not a valid int: [/oops]", line]


def test_control_characters_in_a_quarantined_line_are_printed_as_escapes(
    tmp_path: Path, delivery: Path
) -> None:
    """An ESC in a quarantined value recolours no terminal, a U+202E reorders no line: both show as
    escapes, in the table and in --json (whose data is the line as delivered all the same)."""
    line = "900001,1,1,1,\x1b[31mRED\x1b[0m,0,0,2018-05-09 10:00:00.000,\u202eT"
    with open(delivery / "sales.csv", "a") as f:
        f.write(line + "\n")
    ctx = make_context(tmp_path / "home", delivery)
    extract.run(ctx)
    load.run(ctx)
    ctx.close()
    home = str(tmp_path / "home")
    printed = CliRunner().invoke(app, ["quarantine", "--home", home], env={"COLUMNS": "250"})
    assert printed.exit_code == 0, printed.output
    assert "\x1b" not in printed.output and "\u202e" not in printed.output
    cells = [
        [c.strip() for c in row.split("│")[1:-1]]
        for row in printed.output.splitlines()
        if row.startswith("│")
    ]
    shown = "900001,1,1,1,\\x1b[31mRED\\x1b[0m,0,0,2018-05-09 10:00:00.000,\\u202eT"
    assert cells[0][2:] == ["Quantity is not a valid int: \\x1b[31mRED\\x1b[0m", shown]

    as_json = CliRunner().invoke(app, ["quarantine", "--home", home, "--json"])
    assert "\x1b" not in as_json.output and "\u202e" not in as_json.output
    assert [r["text"] for r in json.loads(as_json.output)["records"]] == [line]
