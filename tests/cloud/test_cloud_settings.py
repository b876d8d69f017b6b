"""Endpoints from the environment (grocery.cloud) and the BigQuery load helpers; no emulator needed."""

from __future__ import annotations

import pyarrow as pa
import pytest

from grocery.cloud import bigquery_api_endpoint, gcs_endpoint, gcs_storage_options
from grocery.config import BigQueryWarehouseSpec
from grocery.errors import StageError
from grocery.lake import Lake
from grocery.warehouse.bigquery import BigQueryWarehouse, _arrow_to_bigquery, hive_partition_keys

ENV = (
    "GROCERY_GCS_ENDPOINT",
    "STORAGE_EMULATOR_HOST",
    "GROCERY_GCS_TOKEN",
    "GROCERY_GCS_PROJECT",
    "GROCERY_BQ_API_ENDPOINT",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_with_nothing_set_google_endpoints_and_default_credentials_are_used() -> None:
    assert gcs_endpoint() is None
    assert gcs_storage_options() == {"use_listings_cache": False}
    assert bigquery_api_endpoint() is None
    spec = BigQueryWarehouseSpec(project="p")
    assert BigQueryWarehouse.from_spec(spec).api_endpoint is None
    assert "GROCERY_BQ_API_ENDPOINT" not in BigQueryWarehouse.from_spec(spec).dbt_target()[1]


def test_an_emulator_endpoint_means_anonymous_access(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:9023")
    assert gcs_storage_options() == {
        "use_listings_cache": False,
        "endpoint_url": "http://127.0.0.1:9023",
        "token": "anon",
    }
    monkeypatch.setenv("GROCERY_GCS_ENDPOINT", "http://127.0.0.1:4443")  # the project's own variable wins
    monkeypatch.setenv("GROCERY_GCS_PROJECT", "test-project")
    options = gcs_storage_options()
    assert options["endpoint_url"] == "http://127.0.0.1:4443" and options["project"] == "test-project"


def test_the_bigquery_endpoint_reaches_the_client_and_dbt_unless_the_spec_names_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROCERY_BQ_API_ENDPOINT", "http://127.0.0.1:9050")
    wh = BigQueryWarehouse.from_spec(BigQueryWarehouseSpec(project="p"))
    assert wh.api_endpoint == "http://127.0.0.1:9050"
    target, env = wh.dbt_target()
    assert target == "bigquery" and env["GROCERY_BQ_API_ENDPOINT"] == "http://127.0.0.1:9050"
    named = BigQueryWarehouse.from_spec(BigQueryWarehouseSpec(project="p", api_endpoint="http://127.0.0.1:1"))
    assert named.api_endpoint == "http://127.0.0.1:1"


def test_a_gs_lake_takes_its_filesystem_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gcsfs")
    monkeypatch.setenv("GROCERY_GCS_ENDPOINT", "http://127.0.0.1:1")
    lake = Lake("gs://bucket/prefix")
    assert lake.fs._endpoint == "http://127.0.0.1:1"  # gcsfs' endpoint; no request is made here
    assert lake.uri("raw/x") == "gs://bucket/prefix/raw/x"


def test_hive_folders_become_typed_columns() -> None:
    prefix, keys = hive_partition_keys("gs://b/lake/analytics/customer_rfm/run_date=2018-05-09/*.parquet")
    assert prefix == "gs://b/lake/analytics/customer_rfm/"
    assert keys == [("run_date", "DATE")]
    assert hive_partition_keys("gs://b/lake/exports/fct_sales/*.parquet") == ("", [])
    assert hive_partition_keys("gs://b/t/k=12/s=x/part.parquet")[1] == [("k", "INT64"), ("s", "STRING")]


def test_parquet_types_map_to_bigquery_types() -> None:
    cases = {
        pa.int32(): "INT64", pa.int64(): "INT64", pa.float64(): "FLOAT64", pa.bool_(): "BOOL",
        pa.string(): "STRING", pa.date32(): "DATE", pa.timestamp("ns"): "TIMESTAMP",
        pa.timestamp("us", tz="UTC"): "TIMESTAMP", pa.decimal128(10, 2): "NUMERIC",
    }  # fmt: skip
    for arrow_type, bq_type in cases.items():
        assert _arrow_to_bigquery("c", arrow_type).field_type == bq_type, arrow_type
    repeated = _arrow_to_bigquery("ids", pa.list_(pa.int64()))
    assert (repeated.field_type, repeated.mode) == ("INT64", "REPEATED")
    with pytest.raises(StageError, match="does not map"):
        _arrow_to_bigquery("m", pa.map_(pa.string(), pa.int64()))
