"""`purge` of a pipeline on Cloud Storage and BigQuery (the emulators): every object under the lake
prefix and every layer dataset go, a sibling prefix and another pipeline's datasets stay, and a second
purge finds nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from grocery.config import PipelineSpec
from grocery.context import Context
from grocery.lake import Lake
from grocery.purge import purge
from grocery.tables import SALES
from grocery.warehouse.base import SCHEMAS

from .emulators import PROJECT, Cloud


def test_purge_deletes_the_gcs_lake_prefix_and_the_bigquery_layers(cloud: Cloud, tmp_path: Path) -> None:
    lake = Lake(cloud.lake_uri)
    for rel in ("raw/_manifests/ingest_date=2018-01-05.json", "raw/sales/ingest_date=2018-01-05/sales.csv",
                "analytics/customer_rfm/run_date=2018-01-05/part-0.parquet", "dashboard/index.html"):  # fmt: skip
        lake.write_bytes(rel, b"x")
    sibling = Lake(cloud.lake_uri + "-other")  # gs://.../lake-other: shares the prefix's first characters
    sibling.write_bytes("raw/keep.csv", b"keep")
    with cloud.warehouse() as wh:
        wh.ensure_datasets()
        wh.ensure_ingest_table("raw", SALES)
        wh.query(f"create table {wh.relation('marts', 'mart_x')} as select 1 as n")
    other = f"{PROJECT}.{cloud.dataset_prefix}other_raw"  # another pipeline's, whose prefix starts alike
    client = cloud.warehouse().client
    client.create_dataset(other, exists_ok=True)

    ctx = Context(spec=PipelineSpec.model_validate(cloud.spec_data()), home=tmp_path)
    report = purge(ctx)

    assert report.deleted[0] == f"the lake {cloud.lake_uri} (4 objects)"
    layers = [f"{PROJECT}.{cloud.dataset_prefix}{schema}" for schema in SCHEMAS]
    tables = {"raw": "1 table", "marts": "1 table"}
    assert report.deleted[1:] == [
        f"the BigQuery dataset {dataset} ({tables.get(schema, '0 tables')})"
        for schema, dataset in zip(SCHEMAS, layers, strict=True)
    ]
    assert lake.files("") == []
    assert sibling.read_bytes("raw/keep.csv") == b"keep"
    for dataset in layers:
        with pytest.raises(NotFound):
            client.get_dataset(dataset)
    assert isinstance(client.get_dataset(other), bigquery.Dataset)

    again = purge(Context(spec=ctx.spec, home=tmp_path))
    assert again.deleted == []
    assert again.absent[0] == f"the lake {cloud.lake_uri}"
