"""`grocery purge` on a real local pipeline: the lake folder and the DuckDB layers go, nothing else does,
a second purge is a no-op, and the command refuses to act without --yes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from pipeline_support import make_context
from typer.testing import CliRunner

from grocery import extract, load
from grocery.cli import app
from grocery.purge import plan, purge
from grocery.warehouse.base import SCHEMAS
from grocery.warehouse.duckdb import DuckDBWarehouse


@pytest.fixture
def landed(generated: Path, tmp_path: Path) -> Path:
    """A pipeline home after extract and load of the generated files, with what dbt would add beside."""
    home = tmp_path / "home"
    ctx = make_context(home, generated)
    extract.run(ctx)
    load.run(ctx)
    # transform's layers, without paying for dbt: a view in staging, a table in marts.
    ctx.warehouse.query("create view staging.stg_sales as select * from raw.sales")
    ctx.warehouse.query("create table marts.mart_x as select count(*) as n from raw.sales")
    ctx.close()
    (tmp_path / "home" / "lake-other").mkdir()  # a sibling of the lake, not the pipeline's
    return home


def schemas(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}


def test_purge_deletes_the_lake_and_the_warehouse_then_finds_nothing(landed: Path, generated: Path) -> None:
    ctx = make_context(landed, generated)
    lake, warehouse_file = landed / "lake", landed / "warehouse.duckdb"
    files = sum(1 for p in lake.rglob("*") if p.is_file())
    assert files > 7 and set(SCHEMAS) <= schemas(warehouse_file)

    report = purge(ctx)

    assert report.deleted == [
        f"the lake {lake.as_uri()} ({files} files)",
        f"the DuckDB file {warehouse_file} (schemas raw (7 tables), quarantine (7 tables), staging (1 view), "
        "core (1 table), marts (1 table), analytics (empty))",  # core.pipeline_state: what load loaded
    ]
    assert not lake.exists() and not warehouse_file.exists()
    assert not warehouse_file.with_name("warehouse.duckdb.wal").exists()
    assert (landed / "lake-other").is_dir()  # only the lake root, nothing beside it

    again = purge(make_context(landed, generated))
    assert again.deleted == [] and len(again.absent) == 2
    assert again.summary.startswith("nothing to delete")
    assert not lake.exists() and not warehouse_file.exists()  # looking created nothing


def test_a_duckdb_file_holding_more_than_the_pipeline_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "shared.duckdb"
    with DuckDBWarehouse(path) as wh:  # creates the layer schemas
        wh.query("create table raw.sales as select 1 as id")
        wh.query("create table main.notes as select 'keep me' as note")

    assert DuckDBWarehouse(path).purge() == [
        f"the DuckDB schemas raw (1 table), quarantine (empty), staging (empty), core (empty), marts (empty), "
        f"analytics (empty) in {path}"
    ]
    assert path.exists() and not set(SCHEMAS) & schemas(path)
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select note from main.notes").fetchall() == [("keep me",)]
    assert DuckDBWarehouse(path).purge() == []


def test_plan_names_the_targets_that_exist_without_creating_anything(landed: Path, tmp_path: Path) -> None:
    assert plan(make_context(landed)) == [
        f"the lake {(landed / 'lake').as_uri()}",
        f"the DuckDB warehouse {landed / 'warehouse.duckdb'} (schemas {', '.join(SCHEMAS)})",
    ]
    home = tmp_path / "nowhere"
    assert plan(make_context(home)) == []
    assert not home.exists()


@pytest.mark.parametrize("yes", [["--yes"], []])
def test_a_home_that_does_not_exist_has_nothing_to_delete_and_is_not_made(
    tmp_path: Path, yes: list[str]
) -> None:
    home = tmp_path / "typo-home"
    result = CliRunner().invoke(app, ["purge", *yes, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"nothing to delete: no home at {home}"]
    assert not home.exists()


def test_after_a_purge_the_cli_names_nothing_it_would_delete(landed: Path, generated: Path) -> None:
    args = ["purge", "--home", str(landed), "--config", str(_config(landed, generated))]
    assert CliRunner().invoke(app, [*args, "--yes"]).exit_code == 0
    again = CliRunner().invoke(app, args)  # the home is left, with its lock file: nothing in it to delete
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == [
        f"nothing to delete: neither the lake {(landed / 'lake').as_uri()} "
        f"nor the warehouse DuckDB {landed / 'warehouse.duckdb'} exists"
    ]


def test_a_lake_at_a_filesystem_root_is_refused(tmp_path: Path) -> None:
    from grocery.errors import ConfigError

    with pytest.raises(ConfigError, match="refusing to delete the lake file:///"):
        purge(make_context(tmp_path, **{"lake": "file:///"}))


def _config(home: Path, generated: Path) -> Path:
    path = home.parent / "grocery.yaml"
    path.write_text(yaml.safe_dump({"source": {"kind": "path", "path": str(generated)}}))
    return path


def test_the_cli_refuses_without_yes_in_one_line_and_deletes_nothing(landed: Path, generated: Path) -> None:
    args = ["purge", "--home", str(landed), "--config", str(_config(landed, generated))]
    result = CliRunner().invoke(app, args)

    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: purge would delete the lake file://") and "--yes" in line
    assert "warehouse.duckdb" in line and "nothing was deleted" in line
    assert (landed / "lake").is_dir() and (landed / "warehouse.duckdb").is_file()


def test_the_cli_with_yes_reports_what_it_deleted_and_a_second_run_nothing(
    landed: Path, generated: Path
) -> None:
    args = ["purge", "--yes", "--quiet", "--home", str(landed), "--config", str(_config(landed, generated))]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[0].startswith(f"deleted the lake {(landed / 'lake').as_uri()} (")
    assert f"deleted the DuckDB file {landed / 'warehouse.duckdb'}" in first.output
    assert not (landed / "lake").exists() and not (landed / "warehouse.duckdb").exists()

    second = CliRunner().invoke(app, [*args, "--json"])
    assert second.exit_code == 0, second.output
    assert '"deleted": []' in second.output and "already gone" not in second.output


def test_a_damaged_warehouse_file_is_left_with_a_hint_to_delete_it(tmp_path: Path) -> None:
    """Not a DuckDB database (a damaged file, or another file the spec names by mistake): purge does not
    delete what it cannot tell is the warehouse, and says so rather than blame a lock."""
    from grocery.errors import StageError

    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(b"not a database" * 1000)
    with pytest.raises(StageError) as raised:
        DuckDBWarehouse(path).purge()
    assert raised.value.hint == "if warehouse.duckdb is the damaged warehouse, delete it yourself"
    assert path.exists()
