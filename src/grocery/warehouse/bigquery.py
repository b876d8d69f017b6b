"""BigQueryWarehouse: the cluster warehouse, one BigQuery dataset per layer in one project.

The layer datasets are `<dataset_prefix><schema>` (e.g. `dev_raw`, `dev_core`) in `spec.location`.
Raw and quarantine tables are created from the contract in `grocery.tables`, partitioned by day on
`ingest_date`; the `load` stage replaces one ingest partition per table from Parquet in the lake
(`gs://...`). Everything from staging on is built by dbt (`dbt_target()` hands it the settings).

Credentials come from Application Default Credentials (Workload Identity on GKE). The client is
created on first use, so building the adapter from a spec never touches the network. With
`spec.api_endpoint` set (only for a local emulator) the client talks to that endpoint with
anonymous credentials, and dbt is told to do the same.

How a partition is replaced is a strategy (`partition_method`), because the emulator has no partition
decorators; see `replace_ingest`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from google.api_core.exceptions import GoogleAPIError, NotFound
from google.api_core.retry import Retry
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from grocery.errors import StageError
from grocery.lake import partition_folders, partition_kind
from grocery.tables import INGEST_DATE, Kind, Table
from grocery.warehouse.base import SCHEMAS, STATE_TABLE, IngestLoad, Warehouse, table_columns

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

    from grocery.config import BigQueryWarehouseSpec
    from grocery.spark.buckets import Buckets

# TIMESTAMP rather than DATETIME: the Kaggle times carry no zone and the project reads them as UTC
# (`_at` columns are UTC timestamps, the same instants DuckDB's TIMESTAMP holds), so date() and
# comparisons with current_timestamp() mean the same on both warehouses. BigQuery loads a Parquet
# timestamp written without a zone (isAdjustedToUTC=false, as DuckDB writes it) into a TIMESTAMP
# column as that wall-clock time in UTC.
BQ_TYPES: dict[Kind, str] = {
    Kind.INT: "INT64",
    Kind.FLOAT: "FLOAT64",
    Kind.TEXT: "STRING",
    Kind.TIMESTAMP: "TIMESTAMP",
    Kind.DATE: "DATE",
}

PartitionMethod = Literal["staging_table", "decorator"]
PARTITION_METHODS: tuple[str, ...] = get_args(PartitionMethod)
DEFAULT_PARTITION_METHOD: PartitionMethod = "staging_table"

# A staging table left behind by a killed load disappears on its own after this long.
STAGING_TABLE_TTL = timedelta(days=1)
STAGING_TABLE_PREFIX = "_load_"
EMULATOR_TOKEN = "emulator"


@dataclass(frozen=True)
class Partitioning:
    """How a table is partitioned (by day on a DATE column) and clustered on BigQuery."""

    field: str
    cluster_by: tuple[str, ...] = ()
    require_partition_filter: bool = False

    def time_partitioning(self) -> bigquery.TimePartitioning:
        return bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=self.field)

    def dbt_config(self) -> dict[str, Any]:
        """The same layout as dbt-bigquery's `partition_by` and `cluster_by` model configs."""
        config: dict[str, Any] = {
            "partition_by": {"field": self.field, "data_type": "date", "granularity": "day"}
        }
        if self.cluster_by:
            config["cluster_by"] = list(self.cluster_by)
        return config


# Raw and quarantine tables: one partition per delivery; readers may scan all of them.
INGEST_PARTITIONING = Partitioning(INGEST_DATE)
# core.fct_sales, built by dbt (models/core/fct_sales.sql) with this layout.
FCT_SALES_PARTITIONING = Partitioning("sales_date", cluster_by=("customer_id",))


def schema_fields(columns: Sequence[tuple[str, Kind]]) -> list[bigquery.SchemaField]:
    """BigQuery columns for contract columns; all NULLABLE (the load stage enforces the contract)."""
    return [bigquery.SchemaField(name, BQ_TYPES[kind], mode="NULLABLE") for name, kind in columns]


def quote(identifier: str) -> str:
    """A backquoted BigQuery identifier (a column, or a whole `project.dataset.table` path)."""
    if "`" in identifier or "\\" in identifier:
        raise ValueError(f"unsupported character in BigQuery identifier {identifier!r}")
    return f"`{identifier}`"


def date_literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def partition_decorator(table_id: str, day: date) -> str:
    """`project.dataset.table$YYYYMMDD`: one day's partition, as a load job destination."""
    return f"{table_id}${day:%Y%m%d}"


def ingest_load_config(columns: Sequence[tuple[str, Kind]], *, partitioned: bool) -> bigquery.LoadJobConfig:
    """A Parquet load that replaces its destination (a table, or one partition of it) with the files."""
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
        # The table is created beforehand with the contract's schema (the emulator cannot create one
        # from Parquet); a load that would create or reshape it is a mistake.
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        schema=schema_fields(columns),
    )
    if partitioned:
        config.time_partitioning = INGEST_PARTITIONING.time_partitioning()
    return config


@dataclass(frozen=True)
class PartitionSwap:
    """Replace one day of `target` with every row of `staging`, that day set as the partition value."""

    target: str  # table id, project.dataset.table
    staging: str
    columns: list[str]
    day: date
    partition_column: str = INGEST_DATE


def swap_partitions_script(swaps: Sequence[PartitionSwap]) -> str:
    """One multi-statement transaction replacing every partition: all become visible at once, or none.

    The partition value comes from the load (the lake folder `ingest_date=D` the files came from),
    not from the files, so a row can never land in, or duplicate into, another day's partition.
    A failing statement aborts the script, and BigQuery rolls back a transaction a script leaves open.
    """
    lines = ["BEGIN TRANSACTION;"]
    for swap in swaps:
        target, day = quote(swap.target), date_literal(swap.day)
        names = [c for c in swap.columns if c != swap.partition_column]
        into = ", ".join(quote(c) for c in [*names, swap.partition_column])
        select = ", ".join([*(quote(c) for c in names), day])
        lines.append(f"DELETE FROM {target} WHERE {quote(swap.partition_column)} = {day};")
        lines.append(f"INSERT INTO {target} ({into}) SELECT {select} FROM {quote(swap.staging)};")
    lines.append("COMMIT TRANSACTION;")
    return "\n".join(lines)


def in_cloud_storage(uri: str) -> str:
    """The URI, when BigQuery can reach it: loads and exports go through Cloud Storage only."""
    if not uri.startswith("gs://"):
        raise StageError(
            f"a BigQuery warehouse loads and exports through Cloud Storage, and {uri.split('/*')[0]} is not in it",
            hint="set lake: gs://<bucket>/<prefix> in grocery.yaml, or use warehouse kind duckdb",
        )
    return uri


def export_sql(relation: str, lake_uri: str, columns: Sequence[str] | None = None) -> str:
    """EXPORT DATA of a whole table (or these columns of it) to Parquet files `part-*.parquet` in a gs:// folder."""
    in_cloud_storage(lake_uri)
    if "'" in lake_uri or "*" in lake_uri:
        raise ValueError(f"unsupported character in export URI {lake_uri!r}")
    uri = lake_uri.rstrip("/") + "/part-*.parquet"
    selected = ", ".join(quote(c) for c in columns) if columns else "*"
    return f"EXPORT DATA OPTIONS(uri='{uri}', format='PARQUET', overwrite=true) AS SELECT {selected} FROM {relation}"


class BigQueryWarehouse(Warehouse):
    """The `Warehouse` interface on BigQuery; see the module docstring.

    `retry` (API requests), `job_retry` (whole query jobs) and `timeout` (seconds per request and per
    wait for a job) are passed to every call: against an emulator, `retry=Retry(timeout=20)` and
    `job_retry=None` keep a failing call from being retried for ten minutes.
    """

    kind = "bigquery"
    missing_relation = (NotFound,)

    def __init__(
        self,
        project: str,
        *,
        location: str = "EU",
        dataset_prefix: str = "",
        api_endpoint: str | None = None,
        partition_method: PartitionMethod = DEFAULT_PARTITION_METHOD,
        client: bigquery.Client | None = None,
        credentials: Credentials | None = None,
        retry: Retry = DEFAULT_RETRY,
        job_retry: Retry | None = DEFAULT_JOB_RETRY,
        timeout: float | None = None,
    ) -> None:
        if partition_method not in PARTITION_METHODS:
            raise ValueError(
                f"partition_method must be one of {', '.join(PARTITION_METHODS)}, got {partition_method!r}"
            )
        self.project = project
        self.location = location
        self.dataset_prefix = dataset_prefix
        self.api_endpoint = api_endpoint or None
        self.partition_method = partition_method
        self.retry = retry
        self.job_retry = job_retry
        self.timeout = timeout
        self._credentials = credentials
        self._client = client
        self._owns_client = client is None  # an injected client is closed by whoever made it
        self._datasets_ready = False

    def __repr__(self) -> str:
        return (
            f"BigQueryWarehouse(project={self.project!r}, location={self.location!r}, "
            f"dataset_prefix={self.dataset_prefix!r}, partition_method={self.partition_method!r})"
        )

    @classmethod
    def from_spec(
        cls,
        spec: BigQueryWarehouseSpec,
        *,
        client: bigquery.Client | None = None,
        credentials: Credentials | None = None,
        **options: Any,
    ) -> BigQueryWarehouse:
        """The adapter a spec describes; `client` (tests) replaces the lazily created one.

        With no `api_endpoint` in the spec, `GROCERY_BQ_API_ENDPOINT` may name one (grocery.cloud),
        so the same spec reaches BigQuery or an emulator.
        """
        from grocery.cloud import bigquery_api_endpoint

        return cls(
            spec.project,
            location=spec.location,
            dataset_prefix=spec.dataset_prefix,
            api_endpoint=spec.api_endpoint or bigquery_api_endpoint(),
            client=client,
            credentials=credentials,
            **options,
        )

    # -- the client ---------------------------------------------------------------------------------

    @property
    def client(self) -> bigquery.Client:
        """The BigQuery client, created on first use (Application Default Credentials)."""
        if self._client is None:
            credentials = self._credentials
            options = None
            if self.api_endpoint:
                options = {"api_endpoint": self.api_endpoint}
                if credentials is None:
                    # An emulator takes no credentials; looking for some would probe the metadata server.
                    from google.auth.credentials import AnonymousCredentials

                    credentials = AnonymousCredentials()
            self._client = bigquery.Client(
                project=self.project, credentials=credentials, location=self.location, client_options=options
            )
        return self._client

    def close(self) -> None:
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    # -- names --------------------------------------------------------------------------------------

    def dataset_id(self, schema: str) -> str:
        """The dataset of a layer: `<dataset_prefix><schema>`."""
        if schema not in SCHEMAS:
            raise ValueError(f"unknown schema {schema!r}; the layers are {', '.join(SCHEMAS)}")
        return f"{self.dataset_prefix}{schema}"

    def table_id(self, schema: str, name: str) -> str:
        """`project.dataset.table`, as the API takes it."""
        return f"{self.project}.{self.dataset_id(schema)}.{name}"

    def relation(self, schema: str, name: str) -> str:
        return quote(self.table_id(schema, name))

    # -- datasets and tables ------------------------------------------------------------------------

    def ensure_datasets(self) -> None:
        """Create every layer dataset in the warehouse's location; existing ones are left as they are."""
        for schema in SCHEMAS:
            dataset = bigquery.Dataset(f"{self.project}.{self.dataset_id(schema)}")
            dataset.location = self.location
            self.client.create_dataset(dataset, exists_ok=True, retry=self.retry, timeout=self.timeout)
        self._datasets_ready = True

    def describe(self) -> str:
        prefix = f", datasets {self.dataset_prefix}<layer>" if self.dataset_prefix else ""
        return f"BigQuery project {self.project} ({self.location}{prefix})"

    def purge_target(self) -> str:
        names = ", ".join(f"{self.project}.{self.dataset_id(schema)}" for schema in SCHEMAS)
        return f"the BigQuery datasets {names} with their tables"

    def purge(self) -> list[str]:
        """Delete every layer dataset with its tables and views; returns those that existed.

        A dataset that is already gone is skipped, so a second purge deletes nothing and fails on nothing.
        """
        deleted = []
        try:
            for schema in SCHEMAS:
                dataset_id = f"{self.project}.{self.dataset_id(schema)}"
                try:
                    self.client.get_dataset(dataset_id, retry=self.retry, timeout=self.timeout)
                except NotFound:
                    continue
                listing = self.client.list_tables(dataset_id, retry=self.retry, timeout=self.timeout)
                tables = sum(1 for _ in listing)
                self.client.delete_dataset(
                    dataset_id,
                    delete_contents=True,
                    not_found_ok=True,
                    retry=self.retry,
                    timeout=self.timeout,
                )
                deleted.append(
                    f"the BigQuery dataset {dataset_id} ({tables} table{'' if tables == 1 else 's'})"
                )
        except GoogleAPIError as exc:
            raise StageError(
                f"BigQuery refused to delete the datasets of {self.project}: {_one_line(exc)}",
                hint="the service account needs bigquery.datasets.delete and bigquery.tables.delete; run purge again",
            ) from exc
        finally:
            self._datasets_ready = False
        return deleted

    def ingest_table(self, schema: str, table: Table) -> bigquery.Table:
        """The definition of `raw.<table>` or `quarantine.<table>`: the contract's columns, by ingest day."""
        definition = bigquery.Table(
            self.table_id(schema, table.name), schema=schema_fields(table_columns(schema, table))
        )
        definition.time_partitioning = INGEST_PARTITIONING.time_partitioning()
        definition.require_partition_filter = INGEST_PARTITIONING.require_partition_filter
        return definition

    def ensure_ingest_table(self, schema: str, table: Table) -> None:
        """Create a raw or quarantine table when it does not exist yet."""
        self.client.create_table(
            self.ingest_table(schema, table), exists_ok=True, retry=self.retry, timeout=self.timeout
        )

    # -- loading ------------------------------------------------------------------------------------

    def check_lake(self, lake_uri: str) -> None:
        in_cloud_storage(lake_uri)

    def replace_ingest(self, loads: list[IngestLoad]) -> None:
        """Replace each load's ingest partition with its Parquet files, by `partition_method`.

        `staging_table` (the default): each load's files go into a staging table of their own (a
        WRITE_TRUNCATE load job, free like any load), then ONE multi-statement transaction deletes and
        re-inserts every partition, and the staging tables are dropped. All tables of a delivery change
        together or not at all, which is what the load stage promises (and what DuckDB does); the
        price is the INSERT's scan of the staging tables, a few hundred MB a day at most. Real
        BigQuery and the emulator both run it, so the tested path is the production path.

        `decorator`: one WRITE_TRUNCATE load job per table into `table$YYYYMMDD`. Each table's swap is
        atomic and costs nothing, but a reader can see raw.sales of the new delivery next to
        raw.products of the old one, and a failure can leave some tables replaced (a re-run repairs
        it). The emulator has no partition decorators, so this path is only ever run on BigQuery.
        """
        if not loads:
            return
        for load in loads:
            in_cloud_storage(load.parquet_uri)
        try:
            if not self._datasets_ready:
                self.ensure_datasets()
            for load in loads:
                self.ensure_ingest_table(load.schema, load.table)
            if self.partition_method == "decorator":
                self._replace_by_decorator(loads)
            else:
                self._replace_by_staging_table(loads)
        except GoogleAPIError as exc:  # a request refused (a failed job is reported by _wait)
            days = ", ".join(sorted({load.ingest_date.isoformat() for load in loads}))
            raise StageError(
                f"BigQuery refused the load of ingest_date={days}: {_one_line(exc)}",
                hint=f"check the datasets of {self.project} and the service account's roles, then run the load again",
            ) from exc

    def _load(self, uri: str, destination: str, config: bigquery.LoadJobConfig) -> bigquery.LoadJob:
        return self.client.load_table_from_uri(
            uri,
            destination,
            job_config=config,
            job_id_prefix="grocery_load_",
            location=self.location,
            retry=self.retry,
            timeout=self.timeout,
        )

    def _wait(self, job: bigquery.LoadJob | bigquery.QueryJob, what: str) -> None:
        try:
            if isinstance(job, bigquery.QueryJob):
                job.result(retry=self.retry, timeout=self.timeout, job_retry=self.job_retry)
            else:
                job.result(retry=self.retry, timeout=self.timeout)
        except GoogleAPIError as exc:
            raise StageError(
                f"BigQuery could not {what}: {_one_line(exc)}",
                hint=f"see job {job.job_id} in {self.project}; re-running the load replaces the same partitions",
            ) from exc

    def _replace_by_decorator(self, loads: list[IngestLoad]) -> None:
        # Start every job first: BigQuery runs them side by side.
        jobs = [
            (
                load,
                self._load(
                    load.parquet_uri,
                    partition_decorator(self.table_id(load.schema, load.table.name), load.ingest_date),
                    ingest_load_config(load.columns, partitioned=True),
                ),
            )
            for load in loads
        ]
        for load, job in jobs:
            self._wait(job, f"load {_describe(load)} from {load.parquet_uri}")

    def staging_table_id(self, load: IngestLoad, token: str) -> str:
        """A load's own staging table, next to its target (so in the same location)."""
        name = f"{STAGING_TABLE_PREFIX}{load.table.name}_{load.ingest_date:%Y%m%d}_{token}"
        return self.table_id(load.schema, name)

    def _replace_by_staging_table(self, loads: list[IngestLoad]) -> None:
        token = uuid.uuid4().hex[:12]
        staged: list[str] = []
        try:
            jobs = []
            for load in loads:
                staging = self.staging_table_id(load, token)
                definition = bigquery.Table(staging, schema=schema_fields(load.columns))
                definition.expires = datetime.now(UTC) + STAGING_TABLE_TTL
                self.client.create_table(definition, retry=self.retry, timeout=self.timeout)
                staged.append(staging)
                config = ingest_load_config(load.columns, partitioned=False)
                jobs.append((load, self._load(load.parquet_uri, staging, config)))
            for load, job in jobs:
                self._wait(job, f"stage {_describe(load)} from {load.parquet_uri}")
            swaps = [
                PartitionSwap(
                    target=self.table_id(load.schema, load.table.name),
                    staging=staging,
                    columns=[name for name, _ in load.columns],
                    day=load.ingest_date,
                )
                for load, staging in zip(loads, staged, strict=True)
            ]
            days = ", ".join(sorted({load.ingest_date.isoformat() for load in loads}))
            self._wait(
                self._query_job(swap_partitions_script(swaps)),
                f"replace ingest_date={days} of {len(loads)} tables in one transaction",
            )
        finally:
            for staging in staged:
                # A table left behind expires on its own; the load's own outcome is what matters.
                with contextlib.suppress(GoogleAPIError):
                    self.client.delete_table(
                        staging, not_found_ok=True, retry=self.retry, timeout=self.timeout
                    )

    # -- queries and exports ------------------------------------------------------------------------

    def _query_job(self, sql: str, params: dict[str, str] | None = None) -> bigquery.QueryJob:
        config = None
        if params:
            config = bigquery.QueryJobConfig(
                query_parameters=[bigquery.ScalarQueryParameter(k, "STRING", v) for k, v in params.items()]
            )
        return self.client.query(
            sql,
            job_config=config,
            job_id_prefix="grocery_",
            location=self.location,
            retry=self.retry,
            timeout=self.timeout,
            job_retry=self.job_retry,
        )

    def query(self, sql: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Run a query; `params` are STRING query parameters (`@name` in the SQL)."""
        job = self._query_job(sql, params)
        rows = job.result(retry=self.retry, timeout=self.timeout, job_retry=self.job_retry)
        return [dict(row.items()) for row in rows]

    def row_hash(self, columns: Sequence[str]) -> str:
        return f"farm_fingerprint(to_json_string(struct({', '.join(quote(c) for c in columns)})))"

    def snapshot_fingerprint(self, tables: Sequence[Table]) -> str | None:
        try:
            rows = self.query(self._snapshot_query(tables))
        except NotFound:
            return None
        return self._snapshot_digest((r["t"], r["d"], r["n"], r["h"]) for r in rows)

    def read_state(self, name: str) -> str | None:
        try:
            rows = self.query(
                f"select value from {self.relation(*STATE_TABLE)} where name = @name", {"name": name}
            )
        except NotFound:  # never written
            return None
        return rows[0]["value"] if rows else None

    def write_state(self, name: str, value: str | None) -> None:
        rel = self.relation(*STATE_TABLE)
        try:
            self.query(f"create table if not exists {rel} (name STRING NOT NULL, value STRING NOT NULL)")
        except NotFound:  # no core dataset: nothing was built, so nothing to forget
            if value is None:
                return
            raise
        self.query(f"delete from {rel} where name = @name", {"name": name})
        if value is not None:
            self.query(
                f"insert into {rel} (name, value) values (@name, @value)", {"name": name, "value": value}
            )

    def export_table(
        self,
        relation: str,
        lake_uri: str,
        buckets: Buckets | None = None,
        columns: Sequence[str] | None = None,
    ) -> None:
        """Write a table to `<lake_uri>/part-*.parquet`, replacing files of the same names.

        Never bucketed: EXPORT DATA cannot place rows in files by a hash of ours."""
        job = self._query_job(export_sql(relation, lake_uri, columns))
        self._wait(job, f"export {relation} to {lake_uri}")

    def load_table(self, schema: str, name: str, parquet_uri: str) -> None:
        """Replace a whole table with Parquet files in the lake (e.g. `gs://.../*.parquet`): one load job.

        The columns are the files' own Parquet schema, read from the lake, then the Hive partition
        keys of the folder (`analytics/customer_rfm/run_date=D/` gives a DATE column `run_date`), as
        DuckDB's `read_parquet` reads the same files, so both warehouses hold the same table. The table
        is created with them first when missing: BigQuery could create it from the load job, but the
        emulator cannot, and creating it beforehand gives the same table on both. The WRITE_TRUNCATE
        load then swaps rows and schema at once, so a reader sees the old table or the new one.
        """
        fields = parquet_schema_fields(in_cloud_storage(parquet_uri))
        prefix, keys = hive_partition_keys(parquet_uri)
        partition_fields = [bigquery.SchemaField(key, kind) for key, kind in keys]
        table_id = self.table_id(schema, name)
        try:
            if not self._datasets_ready:
                self.ensure_datasets()
            self.client.create_table(
                bigquery.Table(table_id, schema=fields + partition_fields),
                exists_ok=True,
                retry=self.retry,
                timeout=self.timeout,
            )
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
                schema=fields,  # the files' columns; the load adds the Hive partition keys after them
            )
            if keys:
                options = bigquery.HivePartitioningOptions()
                options.mode = "AUTO"
                options.source_uri_prefix = prefix
                config.hive_partitioning = options
            job = self._load(parquet_uri, table_id, config)
        except GoogleAPIError as exc:
            raise StageError(
                f"BigQuery refused the load of {schema}.{name}: {_one_line(exc)}",
                hint=f"check the datasets of {self.project} and the service account's roles, then run it again",
            ) from exc
        self._wait(job, f"load {schema}.{name} from {parquet_uri}")

    def dbt_target(self) -> tuple[str, dict[str, str]]:
        env = {
            "GROCERY_BQ_PROJECT": self.project,
            "GROCERY_BQ_LOCATION": self.location,
            "GROCERY_BQ_DATASET_PREFIX": self.dataset_prefix,
        }
        if self.api_endpoint:
            # An emulator: any token will do, and a failing job must fail at once, not be retried.
            env |= {
                "GROCERY_BQ_API_ENDPOINT": self.api_endpoint,
                "GROCERY_BQ_METHOD": "oauth-secrets",
                "GROCERY_BQ_TOKEN": EMULATOR_TOKEN,
                "GROCERY_BQ_JOB_RETRIES": "0",
            }
        return "bigquery", env


def _arrow_to_bigquery(name: str, arrow_type: Any, mode: str = "NULLABLE") -> bigquery.SchemaField:
    """The BigQuery column of a Parquet (Arrow) column; timestamps without a zone are UTC, as in BQ_TYPES."""
    import pyarrow as pa

    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _arrow_to_bigquery(name, arrow_type.value_type, mode="REPEATED")
    checks = (
        (pa.types.is_boolean, "BOOL"),
        (pa.types.is_integer, "INT64"),
        (pa.types.is_floating, "FLOAT64"),
        (pa.types.is_string, "STRING"),
        (pa.types.is_large_string, "STRING"),
        (pa.types.is_date, "DATE"),
        (pa.types.is_timestamp, "TIMESTAMP"),
        (pa.types.is_binary, "BYTES"),
    )
    for check, bq_type in checks:
        if check(arrow_type):
            return bigquery.SchemaField(name, bq_type, mode=mode)
    if pa.types.is_decimal(arrow_type):
        small = arrow_type.precision - arrow_type.scale <= 29 and arrow_type.scale <= 9
        return bigquery.SchemaField(name, "NUMERIC" if small else "BIGNUMERIC", mode=mode)
    raise StageError(f"column {name} has the Parquet type {arrow_type}, which the BigQuery load does not map")


def hive_partition_keys(uri: str) -> tuple[str, list[tuple[str, str]]]:
    """The source URI prefix and the (name, BigQuery type) of each partition folder directly above the
    files a URI names (`grocery.lake.partition_folders`), typed as BigQuery's AUTO mode and DuckDB
    type them: a YYYY-MM-DD value is a DATE, digits an INT64, anything else a STRING."""
    prefix, folders = partition_folders(uri)
    return prefix, [(key, _BIGQUERY_KIND[partition_kind(value)]) for key, value in folders]


_BIGQUERY_KIND = {Kind.DATE: "DATE", Kind.INT: "INT64", Kind.TEXT: "STRING"}


def parquet_schema_fields(parquet_uri: str) -> list[bigquery.SchemaField]:
    """BigQuery columns of Parquet files in the lake (a file or a glob), read from the first file's footer."""
    import fsspec
    import pyarrow.parquet as pq

    from grocery.cloud import gcs_storage_options

    options = gcs_storage_options() if parquet_uri.startswith("gs://") else {}
    files = fsspec.open_files(parquet_uri, "rb", **options)
    if not files:
        raise StageError(f"no Parquet files match {parquet_uri}", hint="run the stage that writes them first")
    with files[0] as f:
        schema = pq.read_schema(f)
    return [_arrow_to_bigquery(field.name, field.type) for field in schema]


def _describe(load: IngestLoad) -> str:
    return f"{load.schema}.{load.table.name} (ingest_date={load.ingest_date.isoformat()})"


def _one_line(exc: GoogleAPIError) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())
