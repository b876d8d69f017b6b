"""The lake: URIs, whole-folder publishing, and paths that need quoting."""

from __future__ import annotations

from pathlib import Path

from pipeline_support import make_context

from grocery.lake import Lake


def test_a_home_whose_name_needs_quoting_keeps_its_lake_inside_it(tmp_path: Path) -> None:
    home = tmp_path / "run_date=2018-05-09 copy"
    ctx = make_context(home)
    ctx.lake.write_json("raw/_manifests/x.json", {"ok": True})
    assert (home / "lake" / "raw" / "_manifests" / "x.json").exists()


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
