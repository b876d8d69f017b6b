"""BigQueryWarehouse against a real `bigquery.Client` whose HTTP calls go to an in-process fake.

The client library builds every request itself (job configurations, table resources, SQL); the
fake only records them and answers the way BigQuery does, so these tests assert on what would be
sent to Google, without a network or an emulator.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import google.auth
import pytest
from google.api_core.exceptions import Forbidden, NotFound, ServiceUnavailable
from google.api_core.retry import Retry, if_transient_error
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery

from grocery.config import BigQueryWarehouseSpec
from grocery.errors import StageError
from grocery.tables import PRODUCTS, SALES
from grocery.warehouse import open_warehouse
from grocery.warehouse.base import SCHEMAS, IngestLoad
from grocery.warehouse.bigquery import (
    DEFAULT_PARTITION_METHOD,
    FCT_SALES_PARTITIONING,
    BigQueryWarehouse,
    ingest_load_config,
)

os.environ.setdefault("NO_GCE_CHECK", "True")

PROJECT = "test-project"
DAY = date(2018, 1, 5)
SALES_URI = "gs://grocery-lake/lake/staged/sales/ingest_date=2018-01-05/*.parquet"
QUARANTINE_URI = "gs://grocery-lake/lake/quarantine/sales/ingest_date=2018-01-05/*.parquet"
SALES_COLUMNS = (
    "`SalesID`, `SalesPersonID`, `CustomerID`, `ProductID`, `Quantity`, `Discount`, "
    "`TotalPrice`, `SalesDate`, `TransactionNumber`"
)


@dataclass
class Call:
    method: str
    path: str
    data: dict[str, Any] | None
    params: dict[str, Any] | None
    timeout: float | None


class FakeBigQueryApi:
    """Stands in for `Connection.api_request`: records each request and answers like BigQuery.

    Every job is DONE when inserted; a load into a table whose id starts with `fail_load_into` fails
    the way a bad Parquet file does; the first `unavailable` requests get a 503.
    """

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.calls: list[Call] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.rows = rows or []
        self.fail_load_into: str | None = None
        self.unavailable = 0
        self.datasets: dict[str, list[str]] = {}  # dataset -> table names, for listings and deletes

    def __call__(self, method: str, path: str, query_params=None, data=None, timeout=None, **_: Any):
        self.calls.append(Call(method, path, data, query_params, timeout))
        if self.unavailable:
            self.unavailable -= 1
            raise ServiceUnavailable("backend unavailable, try again")
        if method == "POST" and path.endswith("/jobs"):
            return self._insert_job(data)
        if method == "GET" and "/jobs/" in path:
            return self.jobs[path.rsplit("/", 1)[1]]
        if method == "GET" and "/queries/" in path:
            return self._query_results(path.rsplit("/", 1)[1], query_params or {})
        if method == "GET" and path.endswith("/tables"):
            return self._list_tables(path.split("/")[-2])
        if method == "GET" and path.split("/")[-2] == "datasets":
            self._list_tables(path.split("/")[-1])  # NotFound when missing
            return {"datasetReference": {"projectId": PROJECT, "datasetId": path.split("/")[-1]}}
        if method == "DELETE" and "/tables/" not in path:
            self.datasets.pop(path.rsplit("/", 1)[1], None)
            return {}
        if method == "DELETE":
            return {}
        return data  # datasets.insert, tables.insert: the resource as created

    def _insert_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job = {**body, "status": {"state": "DONE"}}
        load = body["configuration"].get("load")
        if (
            load
            and self.fail_load_into
            and load["destinationTable"]["tableId"].startswith(self.fail_load_into)
        ):
            error = {"reason": "invalid", "message": "Error while reading data, error message: bad Parquet"}
            job["status"] = {"state": "DONE", "errorResult": error, "errors": [error]}
        self.jobs[body["jobReference"]["jobId"]] = job
        return job

    def _list_tables(self, dataset: str) -> dict[str, Any]:
        if dataset not in self.datasets:
            raise NotFound(f"Not found: Dataset {PROJECT}:{dataset}")
        refs = [{"projectId": PROJECT, "datasetId": dataset, "tableId": t} for t in self.datasets[dataset]]
        return {"tables": [{"tableReference": ref, "type": "TABLE"} for ref in refs]}

    def _query_results(self, job_id: str, params: dict[str, Any]) -> dict[str, Any]:
        names = list(self.rows[0]) if self.rows else []
        answer: dict[str, Any] = {
            "jobReference": {"projectId": PROJECT, "jobId": job_id},
            "jobComplete": True,
            "totalRows": str(len(self.rows)),
            "schema": {"fields": [{"name": n, "type": "STRING"} for n in names]},
        }
        if params.get("maxResults") != 0:
            answer["rows"] = [{"f": [{"v": str(row[n])} for n in names]} for row in self.rows]
        return answer

    # -- what was sent ---------------------------------------------------------------------------

    def sent(self, method: str, suffix: str) -> list[dict[str, Any]]:
        return [c.data for c in self.calls if c.method == method and c.path.endswith(suffix)]

    def jobs_sent(self, kind: str) -> list[dict[str, Any]]:
        return [j["configuration"][kind] for j in self.sent("POST", "/jobs") if kind in j["configuration"]]

    def queries(self) -> list[str]:
        return [q["query"] for q in self.jobs_sent("query")]

    def index(self, method: str, needle: str) -> list[int]:
        return [i for i, c in enumerate(self.calls) if c.method == method and needle in c.path]


@pytest.fixture
def api() -> FakeBigQueryApi:
    return FakeBigQueryApi()


@pytest.fixture
def client(api: FakeBigQueryApi) -> bigquery.Client:
    client = bigquery.Client(project=PROJECT, credentials=AnonymousCredentials(), location="EU")
    client._connection.api_request = api
    return client


def warehouse(client: bigquery.Client, **options: Any) -> BigQueryWarehouse:
    spec = BigQueryWarehouseSpec(project=PROJECT, location="EU", dataset_prefix="dev_")
    return BigQueryWarehouse.from_spec(spec, client=client, **options)


def sales_loads() -> list[IngestLoad]:
    return [IngestLoad("raw", SALES, DAY, SALES_URI), IngestLoad("quarantine", SALES, DAY, QUARANTINE_URI)]


# -- construction, names, dbt ------------------------------------------------------------------------


def test_building_the_adapter_from_a_spec_touches_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[object] = []

    def no_connect(*args: object) -> None:
        raise AssertionError(f"network connection attempted: {args}")

    def default_credentials(*args: object, **kwargs: object):
        lookups.append(kwargs)
        return AnonymousCredentials(), PROJECT

    monkeypatch.setattr(socket.socket, "connect", no_connect)
    monkeypatch.setattr(google.auth, "default", default_credentials)
    spec = BigQueryWarehouseSpec(project=PROJECT, dataset_prefix="dev_")

    wh = open_warehouse(spec, home=Path("unused"))
    assert isinstance(wh, BigQueryWarehouse)
    assert wh.relation("core", "fct_sales") == "`test-project.dev_core.fct_sales`"
    assert wh.dbt_target()[0] == "bigquery"
    wh.close()
    assert lookups == []  # no credential lookup until the first call that needs the client

    assert wh.client.project == PROJECT
    assert len(lookups) == 1  # Application Default Credentials, looked up once, on first use


def test_an_emulator_endpoint_gets_anonymous_credentials_and_the_client_options() -> None:
    spec = BigQueryWarehouseSpec(project=PROJECT, api_endpoint="http://127.0.0.1:9050")
    wh = BigQueryWarehouse.from_spec(spec)

    assert wh.client._connection.API_BASE_URL == "http://127.0.0.1:9050"
    assert isinstance(wh.client._credentials, AnonymousCredentials)
    assert wh.client.location == "EU"
    wh.close()


def test_layer_datasets_carry_the_prefix_and_the_location(api: FakeBigQueryApi, client) -> None:
    warehouse(client).ensure_datasets()

    created = api.sent("POST", f"/projects/{PROJECT}/datasets")
    assert [d["datasetReference"] for d in created] == [
        {"projectId": PROJECT, "datasetId": f"dev_{schema}"} for schema in SCHEMAS
    ]
    assert {d["location"] for d in created} == {"EU"}


def test_relations_are_backquoted_fully_qualified_table_ids(client) -> None:
    wh = warehouse(client)
    assert wh.relation("raw", "sales") == "`test-project.dev_raw.sales`"
    assert wh.relation("marts", "mart_sales_summary") == "`test-project.dev_marts.mart_sales_summary`"
    with pytest.raises(ValueError, match="unknown schema"):
        wh.relation("dbo", "sales")


def test_dbt_gets_the_project_location_and_prefix_and_an_emulator_endpoint_only_when_set(client) -> None:
    assert warehouse(client).dbt_target() == (
        "bigquery",
        {"GROCERY_BQ_PROJECT": PROJECT, "GROCERY_BQ_LOCATION": "EU", "GROCERY_BQ_DATASET_PREFIX": "dev_"},
    )
    emulated = BigQueryWarehouse(PROJECT, api_endpoint="http://127.0.0.1:9050")
    target, env = emulated.dbt_target()
    assert target == "bigquery"
    assert env["GROCERY_BQ_API_ENDPOINT"] == "http://127.0.0.1:9050"
    # The emulator takes any token, and its failures must not be retried for minutes.
    assert env["GROCERY_BQ_METHOD"] == "oauth-secrets"
    assert env["GROCERY_BQ_JOB_RETRIES"] == "0"


def test_fct_sales_layout_is_described_in_dbt_terms() -> None:
    """dbt builds core.fct_sales; this is the layout its BigQuery config must give it."""
    assert FCT_SALES_PARTITIONING.dbt_config() == {
        "partition_by": {"field": "sales_date", "data_type": "date", "granularity": "day"},
        "cluster_by": ["customer_id"],
    }
    layout = FCT_SALES_PARTITIONING.time_partitioning()
    assert (layout.type_, layout.field) == ("DAY", "sales_date")


# -- raw and quarantine tables -----------------------------------------------------------------------


def test_ingest_tables_are_made_from_the_contract_partitioned_by_ingest_date(api, client) -> None:
    wh = warehouse(client)
    wh.ensure_ingest_table("raw", PRODUCTS)
    wh.ensure_ingest_table("quarantine", PRODUCTS)

    raw, quarantine = api.sent("POST", "/tables")
    assert raw["tableReference"] == {"projectId": PROJECT, "datasetId": "dev_raw", "tableId": "products"}
    assert [(f["name"], f["type"]) for f in raw["schema"]["fields"]] == [
        ("ProductID", "INT64"),
        ("ProductName", "STRING"),
        ("Price", "FLOAT64"),
        ("CategoryID", "INT64"),
        ("Class", "STRING"),
        ("ModifyDate", "TIMESTAMP"),
        ("Resistant", "STRING"),
        ("IsAllergic", "STRING"),
        ("VitalityDays", "INT64"),
        ("ingest_date", "DATE"),
    ]
    assert {f["mode"] for f in raw["schema"]["fields"]} == {"NULLABLE"}
    assert raw["timePartitioning"] == {"type": "DAY", "field": "ingest_date"}
    assert raw["requirePartitionFilter"] is False

    assert quarantine["tableReference"]["datasetId"] == "dev_quarantine"
    assert [(f["name"], f["type"]) for f in quarantine["schema"]["fields"]][-5:] == [
        ("VitalityDays", "STRING"),
        ("line_number", "INT64"),
        ("raw_line", "STRING"),
        ("reason", "STRING"),
        ("ingest_date", "DATE"),
    ]
    assert quarantine["timePartitioning"] == {"type": "DAY", "field": "ingest_date"}


# -- replacing an ingest partition -------------------------------------------------------------------


def test_the_default_partition_method_is_the_staging_table_transaction() -> None:
    assert DEFAULT_PARTITION_METHOD == "staging_table"
    assert BigQueryWarehouse(PROJECT).partition_method == "staging_table"
    with pytest.raises(ValueError, match="partition_method"):
        BigQueryWarehouse(PROJECT, partition_method="merge")  # type: ignore[arg-type]


def test_decorator_method_loads_parquet_into_the_days_partition_with_write_truncate(api, client) -> None:
    warehouse(client, partition_method="decorator").replace_ingest(sales_loads())

    raw, quarantine = api.jobs_sent("load")
    assert raw["sourceUris"] == [SALES_URI]
    assert raw["sourceFormat"] == "PARQUET"
    assert raw["writeDisposition"] == "WRITE_TRUNCATE"
    assert raw["createDisposition"] == "CREATE_NEVER"
    assert raw["destinationTable"] == {
        "projectId": PROJECT,
        "datasetId": "dev_raw",
        "tableId": "sales$20180105",
    }
    assert raw["timePartitioning"] == {"type": "DAY", "field": "ingest_date"}
    assert [f["name"] for f in raw["schema"]["fields"]][-2:] == ["TransactionNumber", "ingest_date"]
    assert quarantine["sourceUris"] == [QUARANTINE_URI]
    assert quarantine["destinationTable"]["tableId"] == "sales$20180105"
    assert quarantine["destinationTable"]["datasetId"] == "dev_quarantine"
    # The request body is exactly the library's own job configuration.
    expected = ingest_load_config(sales_loads()[0].columns, partitioned=True).to_api_repr()["load"]
    assert {k: v for k, v in raw.items() if k not in ("sourceUris", "destinationTable")} == expected
    assert api.queries() == []  # no DML, no staging tables
    assert not [c for c in api.calls if c.method == "DELETE"]


def test_staging_table_method_stages_each_load_then_swaps_every_partition_in_one_transaction(
    api, client
) -> None:
    warehouse(client).replace_ingest(sales_loads())

    loads = api.jobs_sent("load")
    staging = [load["destinationTable"] for load in loads]
    assert [t["datasetId"] for t in staging] == ["dev_raw", "dev_quarantine"]
    for table in staging:
        assert re.fullmatch(r"_load_sales_20180105_[0-9a-f]{12}", table["tableId"])
    assert [load["sourceUris"] for load in loads] == [[SALES_URI], [QUARANTINE_URI]]
    assert {load["writeDisposition"] for load in loads} == {"WRITE_TRUNCATE"}
    assert {load["sourceFormat"] for load in loads} == {"PARQUET"}
    assert all("timePartitioning" not in load for load in loads)

    # The staging tables exist before their load (the emulator cannot create one from Parquet),
    # with the target's columns and an expiry in case a killed load leaves them behind.
    created = {
        (t["tableReference"]["datasetId"], t["tableReference"]["tableId"]): t
        for t in api.sent("POST", "/tables")
    }
    raw_staging = created["dev_raw", staging[0]["tableId"]]
    assert [f["name"] for f in raw_staging["schema"]["fields"]] == [n for n, _ in sales_loads()[0].columns]
    assert "expirationTime" in raw_staging and "timePartitioning" not in raw_staging
    assert "expirationTime" in created["dev_quarantine", staging[1]["tableId"]]

    raw_stage = f"test-project.dev_raw.{staging[0]['tableId']}"
    quarantine_stage = f"test-project.dev_quarantine.{staging[1]['tableId']}"
    quarantine_columns = SALES_COLUMNS + ", `line_number`, `raw_line`, `reason`"
    assert api.queries() == [
        "BEGIN TRANSACTION;\n"
        "DELETE FROM `test-project.dev_raw.sales` WHERE `ingest_date` = DATE '2018-01-05';\n"
        f"INSERT INTO `test-project.dev_raw.sales` ({SALES_COLUMNS}, `ingest_date`) "
        f"SELECT {SALES_COLUMNS}, DATE '2018-01-05' FROM `{raw_stage}`;\n"
        "DELETE FROM `test-project.dev_quarantine.sales` WHERE `ingest_date` = DATE '2018-01-05';\n"
        f"INSERT INTO `test-project.dev_quarantine.sales` ({quarantine_columns}, `ingest_date`) "
        f"SELECT {quarantine_columns}, DATE '2018-01-05' FROM `{quarantine_stage}`;\n"
        "COMMIT TRANSACTION;"
    ]
    assert api.jobs_sent("query")[0]["useLegacySql"] is False

    # Order: loads, then the one transaction, then both staging tables dropped.
    transaction = next(
        i for i, c in enumerate(api.calls) if c.data and "query" in c.data.get("configuration", {})
    )
    load_calls = [i for i, c in enumerate(api.calls) if c.data and "load" in c.data.get("configuration", {})]
    drops = api.index("DELETE", "/tables/_load_sales_20180105_")
    assert max(load_calls) < transaction < min(drops)
    assert len(drops) == 2


def test_a_failed_staging_load_replaces_nothing_and_drops_the_staging_tables(api, client) -> None:
    api.fail_load_into = "_load_sales"
    with pytest.raises(
        StageError, match=r"could not stage raw\.sales \(ingest_date=2018-01-05\).*bad Parquet"
    ):
        warehouse(client).replace_ingest(sales_loads())

    assert api.queries() == []  # the targets were never touched
    assert len(api.index("DELETE", "/tables/_load_sales_20180105_")) == 2


def test_a_refused_request_becomes_a_stage_error(api, client) -> None:
    api.unavailable = 10**6
    wh = warehouse(client, retry=Retry(timeout=0.05, initial=0.01, predicate=if_transient_error))
    with pytest.raises(StageError, match="BigQuery refused the load of ingest_date=2018-01-05"):
        wh.replace_ingest(sales_loads())


# -- queries and exports -----------------------------------------------------------------------------


def test_query_returns_rows_as_dicts_with_the_given_retry_and_timeout(client) -> None:
    api = client._connection.api_request
    api.rows = [{"city": "Tucson", "revenue": "12.5"}]
    api.unavailable = 1
    retried: list[Exception] = []
    retry = Retry(timeout=20, initial=0.01, predicate=if_transient_error, on_error=retried.append)
    wh = warehouse(client, retry=retry, job_retry=None, timeout=7.5)

    rows = wh.query(f"select city, revenue from {wh.relation('marts', 'mart_city_revenue')}")

    assert rows == [{"city": "Tucson", "revenue": "12.5"}]
    assert [type(e) for e in retried] == [ServiceUnavailable]  # our retry, not the library's default
    inserts = [c for c in api.calls if c.method == "POST" and c.path.endswith("/jobs")]
    assert {c.timeout for c in inserts} == {7.5}
    assert api.jobs_sent("query")[-1]["query"] == (
        "select city, revenue from `test-project.dev_marts.mart_city_revenue`"
    )


def test_export_writes_parquet_files_into_the_lake_folder(api, client) -> None:
    wh = warehouse(client)
    wh.export_table(wh.relation("core", "fct_sales"), "gs://grocery-lake/lake/exports/fct_sales/")

    assert api.queries() == [
        "EXPORT DATA OPTIONS(uri='gs://grocery-lake/lake/exports/fct_sales/part-*.parquet', "
        "format='PARQUET', overwrite=true) AS SELECT * FROM `test-project.dev_core.fct_sales`"
    ]


def test_export_of_some_columns_selects_them_and_ignores_buckets(api, client) -> None:
    from grocery.spark.buckets import Buckets

    wh = warehouse(client)
    written = wh.export_table(
        wh.relation("core", "fct_sales"),
        "gs://lake/exports/x",
        Buckets("customer_id", 4),
        ["sales_id", "customer_id"],
    )
    assert written is None  # plain files: the jobs read them without buckets
    assert api.queries()[-1].endswith(
        "AS SELECT `sales_id`, `customer_id` FROM `test-project.dev_core.fct_sales`"
    )


def test_a_lake_outside_cloud_storage_is_refused_before_any_request(api, client) -> None:
    wh = warehouse(client)
    local = "file:///tmp/lake/staged/sales/ingest_date=2018-01-05"
    refusals = {
        "check": lambda: wh.check_lake("file:///tmp/lake"),
        "export": lambda: wh.export_table(
            wh.relation("core", "fct_sales"), "file:///tmp/lake/exports/fct_sales"
        ),
        "load": lambda: wh.replace_ingest([IngestLoad("raw", SALES, DAY, f"{local}/*.parquet")]),
        "publish": lambda: wh.load_table(
            "analytics", "customer_rfm", "file:///tmp/lake/analytics/x/*.parquet"
        ),
    }
    for what, refused in refusals.items():
        with pytest.raises(
            StageError, match="a BigQuery warehouse loads and exports through Cloud Storage"
        ) as raised:
            refused()
        assert "gs://<bucket>/<prefix>" in (raised.value.hint or ""), what
    with pytest.raises(StageError, match=f"{local} is not in it"):
        refusals["load"]()
    assert api.calls == []


# -- purge -----------------------------------------------------------------------------------------


def test_purge_deletes_every_existing_layer_dataset_with_its_contents(api: FakeBigQueryApi, client) -> None:
    api.datasets = {"dev_raw": ["sales", "products"], "dev_core": ["fct_sales"], "other_raw": ["x"]}
    wh = warehouse(client, timeout=30)

    assert wh.purge() == [
        "the BigQuery dataset test-project.dev_raw (2 tables)",
        "the BigQuery dataset test-project.dev_core (1 table)",
    ]
    deletes = [c for c in api.calls if c.method == "DELETE"]
    assert [c.path for c in deletes] == [
        f"/projects/{PROJECT}/datasets/dev_raw",
        f"/projects/{PROJECT}/datasets/dev_core",
    ]
    assert all(c.params == {"deleteContents": "true"} and c.timeout == 30 for c in deletes)
    looked_up = [c.path for c in api.calls if c.method == "GET"]
    assert looked_up == [
        f"/projects/{PROJECT}/datasets/dev_{schema}{tables}"
        for schema in SCHEMAS
        for tables in (("", "/tables") if schema in ("raw", "core") else ("",))
    ]
    assert api.datasets == {"other_raw": ["x"]}  # another prefix is another pipeline's

    assert wh.purge() == []  # idempotent: nothing left, nothing fails
    assert wh.purge_target().startswith(
        "the BigQuery datasets test-project.dev_raw, test-project.dev_quarantine"
    )


def test_a_refused_purge_is_a_stage_error_naming_the_roles(api: FakeBigQueryApi, client, monkeypatch) -> None:
    api.datasets = {"dev_raw": []}

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise Forbidden(
            "Access Denied: Dataset test-project:dev_raw: Permission bigquery.datasets.delete denied"
        )

    monkeypatch.setattr(client, "delete_dataset", forbidden)
    with pytest.raises(
        StageError, match=r"refused to delete the datasets of test-project: .*datasets\.delete denied"
    ):
        warehouse(client).purge()
