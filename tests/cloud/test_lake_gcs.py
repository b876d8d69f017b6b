"""The lake on Cloud Storage: every lake operation on a `gs://` lake, through the same code as a local folder.

The `Lake` finds the emulator only through `GROCERY_GCS_ENDPOINT` (set by the `cloud` fixture), as a
pipeline on GKE finds Google's endpoint through nothing at all.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from grocery import extract
from grocery.config import PipelineSpec
from grocery.context import Context
from grocery.interval import DataInterval
from grocery.lake import Lake

from .emulators import Cloud


def test_lake_reads_writes_lists_and_removes_objects_on_gcs(cloud: Cloud) -> None:
    lake = Lake(cloud.lake_uri)
    assert not lake.is_local
    assert lake.uri("raw/sales") == f"{cloud.lake_uri}/raw/sales"

    lake.write_bytes("raw/_manifests/ingest_date=2018-01-05.json", b"{}")
    lake.write_json("raw/_manifests/ingest_date=2018-01-06.json", {"files": [1, 2]})
    lake.write_bytes("raw/sales/ingest_date=2018-01-06/sales.csv", b"SalesID\n1\n")

    assert lake.read_json("raw/_manifests/ingest_date=2018-01-06.json") == {"files": [1, 2]}
    assert lake.read_bytes("raw/sales/ingest_date=2018-01-06/sales.csv") == b"SalesID\n1\n"
    assert lake.listdir("raw/_manifests") == ["ingest_date=2018-01-05.json", "ingest_date=2018-01-06.json"]
    assert lake.listdir("raw") == ["_manifests", "sales"]
    assert lake.listdir("nothing/here") == []
    assert lake.files("raw", suffix=".csv") == ["raw/sales/ingest_date=2018-01-06/sales.csv"]
    assert lake.exists("raw/sales") and not lake.exists("raw/products")

    # The object is really in the bucket, where Google's own client finds it.
    bucket = cloud.gcs.client().bucket(cloud.lake_uri.split("/")[2])
    prefix = cloud.lake_uri.split("/", 3)[3]
    assert (
        bucket.blob(f"{prefix}/raw/sales/ingest_date=2018-01-06/sales.csv").download_as_bytes()
        == b"SalesID\n1\n"
    )

    lake.remove("raw/sales")
    assert not lake.exists("raw/sales")
    assert lake.listdir("raw") == ["_manifests"]


def test_publish_dir_replaces_a_partition_and_drops_files_the_new_one_lacks(
    cloud: Cloud, tmp_path: Path
) -> None:
    lake = Lake(cloud.lake_uri)
    rel = "staged/sales/ingest_date=2018-01-05"
    with lake.staging_dir(rel) as out:
        (out / "part-0.parquet").write_bytes(b"old 0")
        (out / "part-1.parquet").write_bytes(b"old 1")
        (out / "nested").mkdir()
        (out / "nested" / "part-2.parquet").write_bytes(b"old 2")
    assert lake.files(rel) == [
        f"{rel}/nested/part-2.parquet",
        f"{rel}/part-0.parquet",
        f"{rel}/part-1.parquet",
    ]

    replacement = tmp_path / "new"
    replacement.mkdir()
    (replacement / "part-0.parquet").write_bytes(b"new 0")
    lake.publish_dir(replacement, rel)

    assert lake.files(rel) == [f"{rel}/part-0.parquet"]
    assert lake.read_bytes(f"{rel}/part-0.parquet") == b"new 0"


def test_a_folder_written_in_the_bucket_replaces_the_old_one_once_whole(cloud: Cloud) -> None:
    # As Spark's executors write the recommendations: into the bucket, beside the run's folder.
    lake = Lake(cloud.lake_uri)
    rel = "analytics/recommendations/run_date=2018-01-05"
    lake.write_bytes(f"{rel}/part-0.parquet", b"old 0")
    lake.write_bytes(f"{rel}/part-1.parquet", b"old 1")
    try:
        with lake.written_in_place(rel) as uri:
            lake.write_bytes(f"{uri.removeprefix(lake.uri() + '/')}/part-0.parquet", b"half")
            raise RuntimeError("killed while writing")
    except RuntimeError:
        pass
    assert lake.files("analytics/recommendations") == [f"{rel}/part-0.parquet", f"{rel}/part-1.parquet"]
    with lake.written_in_place(rel) as uri:
        written = uri.removeprefix(lake.uri() + "/")
        assert written.startswith("analytics/recommendations/.run_date=2018-01-05.")
        lake.write_bytes(f"{written}/part-0.parquet", b"new 0")
    assert lake.files("analytics/recommendations") == [f"{rel}/part-0.parquet"]
    assert lake.read_bytes(f"{rel}/part-0.parquet") == b"new 0"


def test_staging_dir_publishes_nothing_when_the_block_fails(cloud: Cloud) -> None:
    lake = Lake(cloud.lake_uri)
    rel = "quarantine/sales/ingest_date=2018-01-05"
    try:
        with lake.staging_dir(rel) as out:
            (out / "part-0.parquet").write_bytes(b"half")
            raise RuntimeError("killed")
    except RuntimeError:
        pass
    assert not lake.exists(rel)


def test_local_copy_downloads_a_file_or_a_folder(cloud: Cloud) -> None:
    lake = Lake(cloud.lake_uri)
    lake.write_bytes("exports/fct_sales/part-000.parquet", b"a")
    lake.write_bytes("exports/fct_sales/part-001.parquet", b"b")

    with lake.local_copy("exports/fct_sales/part-001.parquet") as path:
        assert path.read_bytes() == b"b"
    with lake.local_copy("exports/fct_sales") as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["part-000.parquet", "part-001.parquet"]
    assert not folder.exists()  # the download is cleaned up


def test_parquet_in_the_lake_is_readable_through_gcsfs(cloud: Cloud) -> None:
    lake = Lake(cloud.lake_uri)
    table = pa.table({"customer_id": [1, 2], "net_revenue": [2.5, 4.0]})
    with lake.staging_dir("analytics/customer_rfm/run_date=2018-05-09") as out:
        pq.write_table(table, out / "part-0.parquet")

    read = pq.read_table(
        lake.uri("analytics/customer_rfm/run_date=2018-05-09").removeprefix("gs://"), filesystem=lake.fs
    )
    assert read.to_pylist() == table.to_pylist()


def test_extract_lands_the_delivery_in_a_gcs_lake_byte_for_byte(
    cloud: Cloud, small_delivery: Path, tmp_path: Path
) -> None:
    # Its sales file gzip-compressed: the lake keeps the compressed bytes, and hands them back.
    delivery = tmp_path / "delivery"
    shutil.copytree(small_delivery, delivery)
    (delivery / "sales.csv.gz").write_bytes(gzip.compress((delivery / "sales.csv").read_bytes()))
    (delivery / "sales.csv").unlink()
    spec = PipelineSpec.model_validate(
        {"lake": cloud.lake_uri, "source": {"kind": "path", "path": str(delivery)}}
    )
    ctx = Context(spec=spec, home=tmp_path / "home", interval=DataInterval.everything())

    result = extract.run(ctx)

    day = date.fromisoformat(result.metrics["ingest_date"])
    assert ctx.ingest_dates() == [day]
    manifest = extract.read_manifest(ctx, day)
    assert len(manifest["files"]) == 7
    for entry in manifest["files"]:
        original = (delivery / entry["name"]).read_bytes()
        landed = ctx.lake.read_bytes(entry["path"])
        assert landed == original
        with ctx.lake.local_copy(entry["path"]) as copy:  # as load reads it
            assert copy.name == entry["name"] and copy.read_bytes() == original
        assert entry["sha256"] == hashlib.sha256(original).hexdigest()
        assert entry["path"] == f"raw/{entry['table']}/ingest_date={day}/{entry['name']}"


def test_a_delivery_in_a_bucket_folder_or_archive_is_landed_as_a_local_one(
    cloud: Cloud, small_delivery: Path, tmp_path: Path
) -> None:
    """On GKE each stage is a pod of its own: a retailer's deliveries come from a bucket (source.path
    gs://...), a folder of the seven files or a .zip of them, and land byte for byte."""
    import zipfile

    bucket_uri = cloud.lake_uri.removesuffix("/lake") + "/deliveries"
    lake = Lake(bucket_uri)
    for csv in small_delivery.glob("*.csv"):
        lake.write_bytes(f"2018-05-09/{csv.name}", csv.read_bytes())
    lake.write_bytes("2018-05-09/README.txt", b"not a table")  # beside them, not landed
    archive = tmp_path / "grocery.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for csv in small_delivery.glob("*.csv"):
            zf.write(csv, f"grocery-sales/{csv.name}")
    lake.write_bytes("grocery.zip", archive.read_bytes())

    for name, path in (("folder", f"{bucket_uri}/2018-05-09/"), ("archive", f"{bucket_uri}/grocery.zip")):
        spec = PipelineSpec.model_validate({"lake": cloud.lake_uri, "source": {"kind": "path", "path": path}})
        ctx = Context(spec=spec, home=tmp_path / name, interval=DataInterval.everything())
        day = date.fromisoformat(extract.run(ctx).metrics["ingest_date"])
        manifest = extract.read_manifest(ctx, day)
        assert manifest["source"] == f"path {path}", name
        assert sorted(e["name"] for e in manifest["files"]) == sorted(
            p.name for p in small_delivery.glob("*.csv")
        )
        for entry in manifest["files"]:
            assert ctx.lake.read_bytes(entry["path"]) == (small_delivery / entry["name"]).read_bytes(), name
        assert not list((tmp_path / name).glob(".scratch-*")), "the copies go with the stage"


def test_a_bucket_folder_without_the_files_is_one_clear_error(cloud: Cloud, tmp_path: Path) -> None:
    from grocery.errors import SourceError

    bucket_uri = cloud.lake_uri.removesuffix("/lake") + "/deliveries"
    Lake(bucket_uri).write_bytes("other/notes.txt", b"x")
    Lake(bucket_uri).write_bytes("both/Sales.CSV", b"SalesID\n")
    Lake(bucket_uri).write_bytes("both/sales.csv.gz", b"")
    for folder, problem in (
        ("missing", "input folder {} does not exist"),
        ("other", "input folder {} holds none of the dataset's files"),
        ("both", "{} holds both Sales.CSV and sales.csv.gz"),  # named in the bucket, not in a copy
    ):
        path = f"{bucket_uri}/{folder}"
        spec = PipelineSpec.model_validate({"lake": cloud.lake_uri, "source": {"kind": "path", "path": path}})
        ctx = Context(spec=spec, home=tmp_path / folder, interval=DataInterval.everything())
        with pytest.raises(SourceError) as raised:
            extract.run(ctx)
        assert raised.value.message == problem.format(path)
