"""Endpoints from the environment (grocery.cloud) and the BigQuery load helpers; no emulator needed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from grocery.cloud import bigquery_api_endpoint, cloud_failure, gcs_endpoint, gcs_storage_options
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
    # Application Default Credentials, or an error at once: gcsfs would fall back to anonymous access.
    assert gcs_storage_options() == {"use_listings_cache": False, "token": "google_default"}
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
    # A folder of that form above the lake is where the lake is, not a column.
    assert hive_partition_keys(
        "gs://b/env=prod/lake/analytics/customer_rfm/run_date=2018-05-09/*.parquet"
    ) == (
        "gs://b/env=prod/lake/analytics/customer_rfm/",
        [("run_date", "DATE")],
    )


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


CREDENTIALS, ACCESS, NETWORK = (
    "no usable Google Cloud credentials",
    "Google Cloud refused access",
    "cannot reach Google Cloud",
)


def _failures() -> list[tuple[BaseException, str | None]]:
    """Exceptions as Google's clients raise them, and the kind of failure each is for the user."""
    import aiohttp
    import requests
    from gcsfs.retry import HttpError
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    return [
        (auth.DefaultCredentialsError("Your default credentials were not found."), CREDENTIALS),
        (auth.RefreshError("invalid_grant: Token has been expired or revoked."), CREDENTIALS),
        (api.Unauthorized("POST https://bigquery.googleapis.com/...: Request had invalid credentials"), CREDENTIALS),
        (HttpError({"code": 401, "message": "Anonymous caller does not have storage.objects.get access"}), CREDENTIALS),
        (api.Forbidden("POST https://bigquery.googleapis.com/...: Access Denied: Dataset p:prod_raw"), ACCESS),
        (OSError("Forbidden: https://storage.googleapis.com/upload/b/o\nno storage.objects.create access"), ACCESS),
        (auth.TransportError("Failed to retrieve http://metadata.google.internal/"), NETWORK),
        (aiohttp.ClientConnectionError("Cannot connect to host storage.googleapis.com:443"), NETWORK),
        (requests.exceptions.ConnectionError("HTTPSConnectionPool(host='bigquery.googleapis.com')"), NETWORK),
        (api.RetryError("Timeout of 600.0s exceeded", cause=None), NETWORK),
        # Anything else is not the user's to fix, or not Google's: it keeps its traceback.
        (api.BadRequest("Syntax error: Unexpected keyword"), None),
        (HttpError({"code": 500, "message": "Backend Error"}), None),
        (FileNotFoundError("b/lake/raw/_manifests"), None),
        (OSError("No space left on device"), None),
        (ValueError("a bug"), None),
    ]  # fmt: skip


def test_failures_the_user_can_fix_are_told_apart_from_bugs() -> None:
    pytest.importorskip("gcsfs")
    for exc, said in _failures():
        error = cloud_failure(exc)
        if said is None:
            assert error is None, exc
            continue
        assert error is not None and error.message.startswith(said), (exc, error)
        assert "\n" not in str(error) and str(exc).split()[0] in error.message


def test_without_a_network_a_cloud_lake_fails_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    """gcsfs logged each request out of retries with its traceback, which Python printed to stderr
    (53 lines) before the command's one line. In a process of its own: pytest would catch the log."""
    pytest.importorskip("gcsfs")
    spec = tmp_path / "grocery.yaml"
    spec.write_text("lake: gs://bucket/lake\n")
    command = (
        "import asyncio, sys\n"
        "async def no_wait(_):\n    return None\n"
        "asyncio.sleep = no_wait  # six retries without their 30 s of backoff\n"
        "from grocery.cli import main\n"
        "sys.argv = ['grocery', *sys.argv[1:]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", command, "status", "--config", str(spec), "--home", str(tmp_path / "h")],
        env={**os.environ, "GROCERY_GCS_ENDPOINT": "http://127.0.0.1:9"},  # nothing listens there
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach Google Cloud"), done.stderr[:3000]
    assert len(done.stderr.splitlines()) <= 2, done.stderr[:3000]


def test_without_credentials_a_cloud_pipeline_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key file, no gcloud login, no metadata server: the lake and the warehouse each say so in one
    line. (The dashboard used to report the marts as missing: `exists` took any error for "no table".)"""
    pytest.importorskip("gcsfs")
    from typer.testing import CliRunner

    from grocery import cli

    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # where `gcloud auth` would have written
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    spec = tmp_path / "grocery.yaml"
    spec.write_text(
        "lake: gs://no-such-bucket/lake\nwarehouse:\n  kind: bigquery\n  project: no-such-project\n"
    )
    for command in (["extract", "--scale", "0.001"], ["dashboard"], ["transform"], ["segment"]):
        result = CliRunner().invoke(cli.app, [*command, "--config", str(spec), "--home", str(tmp_path / "h")])
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1, (command, result.output)
        assert lines[-1].startswith("error: no usable Google Cloud credentials: "), (command, lines)
        assert "gcloud auth application-default login" in lines[-1]
        assert "Traceback" not in result.output
