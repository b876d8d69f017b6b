"""The lake: URIs, whole-folder publishing, and paths that need quoting."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

from pipeline_support import make_context

from grocery.lake import Lake, file_path


def test_a_home_whose_name_needs_quoting_keeps_its_lake_inside_it(tmp_path: Path) -> None:
    home = tmp_path / "run_date=2018-05-09 copy"
    ctx = make_context(home)
    ctx.lake.write_json("raw/_manifests/x.json", {"ok": True})
    assert (home / "lake" / "raw" / "_manifests" / "x.json").exists()


def test_a_lake_uri_names_the_same_folder_to_every_reader(tmp_path: Path) -> None:
    """Spark's executors take a file:// URI's path literally (Hadoop does not percent-decode), and
    the jobs open the lake again from `Lake.uri()`: "%20" must stay "%20", never become a space."""
    home = tmp_path / "my%20data home=1"
    lake = make_context(home).lake
    assert lake.uri() == f"file://{home.resolve()}/lake"
    again = Lake(lake.uri("analytics"))
    again.write_json("x.json", {"ok": True})
    assert (home / "lake" / "analytics" / "x.json").exists()
    assert not (tmp_path / "my data home=1").exists()


def test_a_home_with_a_character_that_ends_a_url_path_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from grocery.cli import app

    for name, cut in (("run#2", "#"), ("what?", "?")):
        home = tmp_path / name / "home"
        result = CliRunner().invoke(app, ["run", "--home", str(home), "--scale", "0.0005"])
        assert result.exit_code == 1
        assert f"has {cut!r} in its path" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
        assert not (tmp_path / name).exists()


def test_publishing_a_folder_replaces_the_old_one_whole(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    for content in ("old", "new"):
        with lake.staging_dir("staged/sales/ingest_date=2018-05-09") as scratch:
            (scratch / f"{content}.parquet").write_text(content)
    assert lake.files("staged/sales") == ["staged/sales/ingest_date=2018-05-09/new.parquet"]
    assert not [p for p in (tmp_path / "lake" / "staged" / "sales").iterdir() if p.name.startswith(".")]


def test_a_failed_build_publishes_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    try:
        with lake.staging_dir("exports/fct_sales") as scratch:
            (scratch / "part-0.parquet").write_text("half")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert not lake.exists("exports/fct_sales")


def test_what_a_killed_command_left_is_removed_by_the_next_run(tmp_path: Path) -> None:
    # kill -9 in the middle of a stage: no `finally` runs, so its scratch folder in the home and the
    # half-built folder beside the lake folder it was replacing stayed there, run after run.
    from typer.testing import CliRunner

    from grocery import cli

    home = tmp_path / "home"
    killed = (  # each block entered, never left (the objects kept: a block collected would end)
        "import os\n"
        "from pathlib import Path\n"
        "from grocery.context import Context\n"
        f"ctx = Context(home=Path({str(home)!r}))\n"
        "scratch, staging = ctx.scratch('load'), ctx.lake.staging_dir('staged/sales/ingest_date=2018-05-09')\n"
        "(scratch.__enter__() / 'spill.bin').write_bytes(b'x')\n"
        "(staging.__enter__() / 'p.parquet').write_bytes(b'half')\n"
        "os._exit(9)\n"
    )
    assert subprocess.run([sys.executable, "-c", killed], timeout=60).returncode == 9
    lake = home / "lake"
    (lake / "exports" / f".fct_sales.{'a' * 32}.old").mkdir(parents=True)  # a swap's old folder
    (lake / "raw" / "_manifests").mkdir(parents=True)
    (lake / "raw" / "_manifests" / f".ingest_date=2018-05-09.json.{'b' * 32}.tmp").write_text("{")
    (lake / "staged" / "sales" / ".keep").write_text("not the pipeline's")

    def leftovers() -> list[str]:
        found = [p for p in home.iterdir() if p.name.startswith(".scratch-")]
        found += [p for p in lake.rglob(".*") if p.name.endswith((".tmp", ".old"))]
        return sorted(str(p.relative_to(home)) for p in found)

    assert len(leftovers()) == 4
    result = CliRunner().invoke(
        cli.app, ["run", "--stages", "extract", "--scale", "0.001", "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    assert leftovers() == []
    assert (lake / "staged" / "sales" / ".keep").exists()


def test_a_folder_written_in_the_lake_by_another_writer_replaces_the_old_one_once_whole(
    tmp_path: Path,
) -> None:
    # Spark's executors write the recommendations in the lake; Spark's own overwrite deleted the old
    # folder first, so a recommend killed while writing left no recommendations at all.
    lake = Lake(str(tmp_path / "lake"))
    rel = "analytics/recommendations/run_date=2018-05-09"
    for content in ("old", "new"):
        with lake.written_in_place(rel) as uri:
            written = file_path(uri)
            assert written.parent == lake.local_path(rel).parent and written.name.startswith(".")
            written.mkdir()
            (written / f"{content}.parquet").write_text(content)
    try:
        with lake.written_in_place(rel) as uri:
            file_path(uri).mkdir()
            raise RuntimeError("killed while writing")
    except RuntimeError:
        pass
    assert lake.files("analytics/recommendations") == [f"{rel}/new.parquet"]
    assert [p.name for p in lake.local_path("analytics/recommendations").iterdir()] == ["run_date=2018-05-09"]


def test_an_old_folder_moved_aside_by_a_killed_swap_goes_back_in_place(tmp_path: Path) -> None:
    # Killed between its two renames, a swap left the folder's old content aside and no folder.
    lake = Lake(str(tmp_path / "lake"))
    old = lake.local_path(f"staged/sales/.ingest_date=2018-05-09.{'c' * 32}.old")
    old.mkdir(parents=True)
    (old / "part-0.parquet").write_text("old")
    lake.remove_leftovers()
    assert lake.files("staged/sales") == ["staged/sales/ingest_date=2018-05-09/part-0.parquet"]


def test_a_lake_the_spec_names_elsewhere_is_not_swept(tmp_path: Path) -> None:
    # Two homes may share a lake (spec.lake): one's run removed the other's folder in the making,
    # whose load then failed. Only a home's own lake is swept.
    shared = tmp_path / "shared-lake"
    building = shared / "staged" / "sales" / f".ingest_date=2018-05-09.{'d' * 32}.tmp"
    building.mkdir(parents=True)
    ctx = make_context(tmp_path / "home", lake=shared.as_uri())
    ctx.remove_leftovers()
    assert building.is_dir()


def test_only_the_partition_folders_above_the_files_are_partitions() -> None:
    from grocery.lake import partition_folders

    assert partition_folders(
        "file:///data/env=prod/lake/analytics/customer_rfm/run_date=2018-05-09/*.parquet"
    ) == (
        "file:///data/env=prod/lake/analytics/customer_rfm/",
        [("run_date", "2018-05-09")],
    )
    assert partition_folders("gs://b/t/k=12/s=x/part.parquet") == ("gs://b/t/", [("k", "12"), ("s", "x")])
    assert partition_folders("gs://b/segment=x/lake/exports/fct_sales/*.parquet") == ("", [])


def test_a_folder_above_the_lake_named_like_a_partition_is_no_column_of_its_tables(tmp_path: Path) -> None:
    # A home under `segment=Champions/`: DuckDB's own Hive reading made every customer a Champion.
    import pyarrow as pa
    import pyarrow.parquet as pq

    from grocery.lake import local_uri
    from grocery.warehouse.duckdb import DuckDBWarehouse

    home = tmp_path / "segment=Champions" / "home"
    folder = home / "lake" / "analytics" / "customer_rfm" / "run_date=2018-05-09"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"customer_id": [1], "segment": ["Lost"]}), folder / "part-0.parquet")
    with DuckDBWarehouse(home / "warehouse.duckdb") as warehouse:
        warehouse.load_table("analytics", "customer_rfm", f"{local_uri(folder)}/*.parquet")
        rows = warehouse.query("select * from analytics.customer_rfm")
    assert rows == [{"customer_id": 1, "segment": "Lost", "run_date": date(2018, 5, 9)}]
