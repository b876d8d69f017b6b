"""`PipelineSpec`: the one description of a pipeline.

The same model is the `spec` of a `GroceryPipeline` custom resource, the `grocery.yaml` file the CLI
reads, and the configuration the Airflow DAG factory turns into a DAG. Field names are camelCase on
the outside (Kubernetes style) and snake_case in Python. Every field has a default, so no file at
all is a valid pipeline: generated data, a local lake, DuckDB, Spark in local mode.
"""

from __future__ import annotations

import difflib
from datetime import date
from pathlib import Path
from typing import Annotated, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from grocery.errors import ConfigError

CONFIG_FILE = "grocery.yaml"
# Airflow's schedule presets, and cron expressions of 5 to 7 fields (seconds and years optional).
SCHEDULE_PRESETS = ("once", "continuous", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly",
                    "annually", "midnight")  # fmt: skip
_CRON_FIELD = r"[0-9A-Za-z*/,?#-]+"
SCHEDULE_PATTERN = rf"^(@({'|'.join(SCHEDULE_PRESETS)})|{_CRON_FIELD}( +{_CRON_FIELD}){{4,6}})$"
# The text encodings a delivery's files may be in (`source.encoding`; grocery.encodings reads them).
Encoding = Literal["utf-8", "windows-1252", "latin-1"]
UTF_8, WINDOWS_1252, LATIN_1 = get_args(Encoding)


def _not_a_boolean(value: object) -> object:
    if isinstance(value, bool):  # pydantic would read true as 1
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


# The spec's numbers: `maxIter: true` is a mistake, not 1.
Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean)]


class Model(BaseModel):
    """Base for every spec model: camelCase aliases, unknown fields refused, values validated.

    A number is a finite number: not infinity or NaN (`.inf` in YAML), and not a boolean (`Int`,
    `Float`).
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_default=True,
        frozen=True,
        allow_inf_nan=False,
    )


class SourceSpec(Model):
    """Where the raw files come from."""

    kind: Literal["generator", "kaggle", "path"] = Field(
        "generator",
        description="generator: synthetic data of the real shape; kaggle: the public dataset; path: a folder.",
    )
    scale: Float = Field(
        0.05,
        gt=0,
        le=100,
        description="Generator size as a fraction of the real dataset (1 = 6,758,125 sales).",
    )
    seed: Int = Field(42, ge=0, description="Generator seed: the same seed gives the same files.")
    path: str | None = Field(
        None,
        description="Folder holding the seven CSV files, or a .zip archive of them, on this machine or"
        " gs://bucket/prefix (kind: path).",
    )
    dataset: str = Field(
        "andrexibiza/grocery-sales-dataset", description="Kaggle dataset handle (kind: kaggle)."
    )
    encoding: Encoding = Field(
        UTF_8,
        description="Text encoding of the files: a spreadsheet's export on Windows is windows-1252; latin-1 is ISO-8859-1.",
    )

    @model_validator(mode="after")
    def _path_needs_a_folder(self) -> SourceSpec:
        if self.kind == "path" and not self.path:
            raise ValueError("source.path is required when source.kind is 'path'")
        return self


class DuckDBWarehouseSpec(Model):
    """The embedded warehouse: one DuckDB file."""

    kind: Literal["duckdb"] = "duckdb"
    path: str | None = Field(None, description="DuckDB file; default: <home>/warehouse.duckdb.")


class BigQueryWarehouseSpec(Model):
    """BigQuery: one dataset per layer (raw, quarantine, staging, core, marts, analytics)."""

    kind: Literal["bigquery"] = "bigquery"
    project: str = Field(..., min_length=1, description="Google Cloud project that holds the datasets.")
    location: str = Field("EU", description="BigQuery location of the datasets.")
    dataset_prefix: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_]*$",
        description="Prefix for the layer datasets, e.g. 'dev_' gives dev_raw.",
    )
    api_endpoint: str | None = Field(
        None, description="BigQuery API endpoint; only for emulators, empty for Google's."
    )


WarehouseSpec = Annotated[DuckDBWarehouseSpec | BigQueryWarehouseSpec, Field(discriminator="kind")]


class Resources(Model):
    """Cores and memory of one Spark process, a driver or an executor (Spark's forms, not Kubernetes')."""

    cores: Int = Field(1, ge=1, le=64, description="CPU cores.")
    memory: str = Field(
        "2g", pattern=r"^[1-9][0-9]*[kmgtKMGT]$", description="Memory, Spark style: 512m, 4g."
    )

    @field_validator("memory", mode="before")
    @classmethod
    def _with_a_unit(cls, value: object) -> object:
        """A size without a unit is refused: Spark would read `memory: 4` as 4 MiB, too little to start."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # YAML's number, checked as its text
        if isinstance(value, str) and value.isdigit():
            raise ValueError(f"{value} has no unit: write it with one, as in 4g or 512m")
        return value


class SparkSpec(Model):
    """How the Spark stages are submitted."""

    submitter: Literal["local", "operator", "livy"] = Field(
        "local", description="local: spark in this process; operator: SparkApplication; livy: a Livy batch."
    )
    image: str = Field(
        "grocery-pipeline-spark:latest",
        description="Container image for the driver and executors. A GroceryPipeline that leaves it out "
        "runs the operator's: its release's.",
    )
    driver: Resources = Field(default_factory=Resources, description="Driver resources.")
    executor: Resources = Field(
        default_factory=lambda: Resources(cores=2, memory="4g"), description="Executor resources."
    )
    executor_instances: Int = Field(2, ge=1, le=100, description="Number of executors on a cluster.")
    service_account_name: str = Field(
        "grocery-spark-driver",
        description="Service account of the driver and executors of a SparkApplication or Livy batch: the "
        "driver creates its executor pods (the chart's spark.driverServiceAccount, with its Role).",
    )


class RfmSpec(Model):
    """Customer segmentation by recency, frequency and monetary value."""

    bins: Int = Field(5, ge=2, le=10, description="Score bins (5 gives quintile scores 1-5).")


class AlsSpec(Model):
    """Product recommendations by implicit-feedback ALS."""

    rank: Int = Field(10, ge=1, le=500, description="Latent factors.")
    max_iter: Int = Field(10, ge=1, le=100, description="ALS iterations.")
    reg_param: Float = Field(0.1, ge=0, le=1000, description="Regularization.")
    # Spark's ALS computes in single precision: a confidence past about 3e38 overflows.
    alpha: Float = Field(10.0, gt=0, le=10_000, description="Confidence scaling of implicit feedback.")
    top_n: Int = Field(10, ge=1, le=100, description="Recommendations per customer.")
    exclude_purchased: bool = Field(
        True, description="Never recommend a product the customer already bought."
    )
    holdout_days: Int = Field(
        14, ge=1, le=365, description="Days at the end of the interval held out for evaluation."
    )
    eval_k: Int = Field(10, ge=1, le=100, description="K of precision@K, recall@K and NDCG@K.")


class ModelsSpec(Model):
    """Parameters of the Spark models."""

    rfm: RfmSpec = Field(default_factory=RfmSpec)
    als: AlsSpec = Field(default_factory=AlsSpec)


class DashboardSpec(Model):
    """The published dashboard."""

    title: str = Field("Grocery sales", description="Page title.")
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of the amounts.")


class ExecutionSpec(Model):
    """Where Airflow runs each stage: on the Airflow worker itself, or in a pod per stage."""

    mode: Literal["local", "kubernetes"] = Field(
        "local",
        description="local: the grocery CLI on the Airflow worker; kubernetes: one pod per stage, with a "
        "gs:// lake and warehouse kind bigquery (the pods share no disk).",
    )
    image: str = Field(
        "grocery-pipeline:latest",
        description="Pipeline image (CLI and dbt) for stage pods. A GroceryPipeline that leaves it out runs "
        "the operator's: its release's.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        "IfNotPresent", description="Pull policy of stage pods."
    )
    namespace: str = Field(
        "grocery",
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="Namespace of stage pods and Spark jobs.",
    )
    service_account_name: str = Field(
        "grocery-pipeline", description="Service account of stage pods (Workload Identity)."
    )
    secret_env: list[str] = Field(
        default_factory=list,
        description="Kubernetes Secrets whose keys become environment variables of stage pods.",
    )
    retries: Int = Field(2, ge=0, le=10, description="Retries of a failed stage, with exponential backoff.")
    timeout_minutes: Int = Field(120, ge=1, le=24 * 60, description="A stage running longer than this fails.")


class PipelineSpec(Model):
    """A whole pipeline: where data comes from, where it lands, how it is modelled and shown."""

    source: SourceSpec = Field(default_factory=SourceSpec)
    lake: str | None = Field(
        None,
        pattern=r"^(file:///|gs://.)",
        description="Lake URI, file:///path or gs://bucket/prefix; default: <home>/lake. A file:// path is "
        "taken as written, not percent-decoded.",
    )
    warehouse: WarehouseSpec = Field(
        default_factory=DuckDBWarehouseSpec,
        description="Where the tables live: kind duckdb (a local file) or bigquery.",
    )
    schedule: str | None = Field(
        "@daily",
        pattern=SCHEDULE_PATTERN,
        description="Cron expression (e.g. '0 6 * * *') or Airflow preset (@daily, @hourly, ...); null: only on request.",
    )
    suspend: bool = Field(False, description="Pause scheduled runs.")
    start_date: str = Field(
        "2018-01-01",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="First day of the schedule (YYYY-MM-DD); its first data interval starts at the "
        "schedule's first point on or after it.",
    )
    catchup: bool = Field(False, description="Run every missed interval since startDate (a backfill).")
    freshness_hours: Int = Field(
        36, ge=1, le=24 * 365, description="Data older than this many hours makes the pipeline Stale."
    )
    on_delete: Literal["Retain", "Delete"] = Field(
        "Retain", description="What happens to the lake and warehouse when the pipeline is deleted."
    )
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    spark: SparkSpec = Field(default_factory=SparkSpec)
    models: ModelsSpec = Field(default_factory=ModelsSpec)
    dashboard: DashboardSpec = Field(default_factory=DashboardSpec)

    @field_validator("schedule")
    @classmethod
    def _a_schedule_airflow_accepts(cls, value: str | None) -> str | None:
        """A cron expression whose fields are in range, as Airflow's cron timetables check it."""
        if value is None or value.startswith("@"):
            return value
        # Imported here: a preset (the default) needs no parser, and every command imports the spec.
        from croniter import CroniterBadCronError, CroniterBadDateError, croniter

        try:
            croniter(value)
        except (CroniterBadCronError, CroniterBadDateError) as exc:
            why = str(exc).removeprefix(f"[{value}] is not acceptable, ")
            raise ValueError(f"{value!r} is not a cron expression Airflow accepts: {why}") from None
        return value

    @field_validator("start_date")
    @classmethod
    def _a_calendar_date(cls, value: str) -> str:
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value} is not a calendar date ({exc})") from None
        return value

    @model_validator(mode="after")
    def _pods_share_no_disk(self) -> PipelineSpec:
        """In kubernetes mode every stage is a pod with a /tmp of its own: what `extract` writes to a
        folder (a file:// lake, a DuckDB file) is gone for `load`. Only a gs:// lake and BigQuery,
        which every pod reaches, hold a run's data from one stage to the next."""
        if self.execution.mode != "kubernetes":
            return self
        local = []
        if not (self.lake or "").startswith("gs://"):
            local.append(f"lake is {self.lake}" if self.lake else "lake is the default (a folder in the pod)")
        if self.warehouse.kind != "bigquery":
            local.append(f"warehouse.kind is {self.warehouse.kind}")
        if local:
            raise ValueError(
                f"execution.mode: kubernetes runs each stage in a pod of its own, which sees no other pod's "
                f"files, but {' and '.join(local)}: set lake to a gs:// URI and warehouse.kind to bigquery, "
                "or execution.mode to local"
            )
        return self

    def with_overrides(self, **changes: object) -> PipelineSpec:
        """A copy with dotted-path overrides applied, e.g. {"source.scale": 0.1}; None values are skipped."""
        data = self.model_dump(by_alias=False)
        for dotted, value in changes.items():
            if value is None:
                continue
            *parents, leaf = dotted.split(".")
            node = data
            for part in parents:
                node = node[part]
            node[leaf] = value
        return parse_spec(data, origin="command-line options")


def _model_at(loc: tuple[object, ...]) -> type[BaseModel] | None:
    """The spec model that holds the field at loc (its keys as written: camelCase or snake_case)."""
    model: type[BaseModel] = PipelineSpec
    for key in loc[:-1]:
        fields = dict(model.model_fields) | {f.alias: f for f in model.model_fields.values() if f.alias}
        field = fields.get(str(key))
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    return model


def _unknown_field(loc: tuple[object, ...]) -> str:
    """The message of a field the spec does not have, with the nearest one it has."""
    model = _model_at(loc)
    if model is None:
        return "unknown field"
    known = [f.alias or name for name, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return (
        f"unknown field (did you mean {close[0]}?)" if close else f"unknown field (known: {', '.join(known)})"
    )


def _pattern_mismatch(loc: tuple[object, ...], value: object) -> str:
    """The message of a value without the form its field's pattern asks, in the field's own words."""
    model, key = _model_at(loc), str(loc[-1])
    fields = model.model_fields.items() if model is not None else ()
    field = next((f for name, f in fields if key in (name, f.alias)), None)
    if field is None or not field.description:
        return f"{value!r} does not have the form this field takes"
    form = field.description.split(";")[0].rstrip(".")  # what it is, without its default
    return f"{value!r} is not of the form {form[0].lower()}{form[1:]}"


def _format_error(exc: ValidationError, origin: str) -> str:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        message = _unknown_field(first["loc"])
    elif first["type"] == "string_pattern_mismatch":
        message = _pattern_mismatch(first["loc"], first["input"])
    else:
        message = first["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    # A rule across fields (a model validator) has no one path: its message names the fields.
    where = f"{path}: " if path else ""
    return f"{origin}: {where}{message}{more}"


def parse_spec(data: object, origin: str = "pipeline spec") -> PipelineSpec:
    """Validate a mapping into a spec; errors name the field's path and the origin."""
    try:
        return PipelineSpec.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(
            _format_error(exc, origin), hint="fix that field; `grocery config` shows the effective spec"
        ) from None


def not_valid_yaml(origin: object, exc: yaml.YAMLError) -> str:
    """One line on a YAML error: where it is (line and column, counted from 1) and what it is."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{origin}: not valid YAML{where}: {problem or type(exc).__name__}"


class _SpecLoader(yaml.SafeLoader):
    """YAML as the spec reads it: a date or a timestamp stays the text it is written as.

    The spec's dates are strings (`startDate: 2018-05-01` means "2018-05-01"), checked by the
    spec's own rules; a YAML loader would make one a `date`, and fail on an impossible one
    (2018-02-30) with an error that names no field.
    """


_SpecLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


def _read_yaml(text: str) -> object:
    return yaml.load(text, Loader=_SpecLoader)  # a SafeLoader: no Python objects


def load_spec(path: Path | None = None) -> PipelineSpec:
    """Read a `grocery.yaml`; with no path, use ./grocery.yaml when it exists, else the defaults."""
    if path is None:
        default = Path(CONFIG_FILE)
        if not default.exists():
            return PipelineSpec()
        path = default
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist", hint="pass an existing file with --config")
    try:
        data = _read_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"config file {path} is not UTF-8 text", hint="pass a grocery.yaml with --config"
        ) from None
    except OSError as exc:  # a folder, a file the user may not read
        raise ConfigError(
            f"cannot read config file {path}: {exc.strerror or exc}",
            hint="pass a readable file with --config",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(not_valid_yaml(path, exc), hint="check the file's syntax") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of fields at the top level",
            hint="e.g. `source: {scale: 0.1}`; `grocery config` prints every field with its value",
        )
    # A GroceryPipeline manifest can be read directly: its spec is the pipeline.
    if isinstance(data, dict) and data.get("kind") == "GroceryPipeline":
        data = data.get("spec") or {}
    return parse_spec(data, origin=str(path))


# -- the hand-over between the operator and Airflow -------------------------------------------------

API_GROUP = "grocery.io"
API_VERSION = "v1alpha1"
KIND = "GroceryPipeline"
# The longest DAG id a task can run under. Airflow takes 250 characters (airflow.models.base.ID_LEN),
# but a task's log goes to a folder named `dag_id=<DAG id>` (its default log_filename_template), and a
# file name has at most 255 bytes. A Kubernetes name (up to 253 characters) with its namespace can
# exceed it; the pipeline's ConfigMap keys (<namespace>__<name>.yaml and .py, at most 253) are 4
# characters shorter than its DAG id, so a name within this bound fits them too.
DAG_ID_MAX = 255 - len("dag_id=")


class NamedPipeline(BaseModel):
    """A pipeline with its identity: what the operator renders and the DAG factory reads."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "default"
    spec: PipelineSpec = Field(default_factory=PipelineSpec)

    @model_validator(mode="after")
    def _a_name_airflow_takes(self) -> NamedPipeline:
        """A name that makes the DAG id too long is refused here, not by Airflow (or the API server, for
        the ConfigMap keys) later, where it would fail every time it is tried."""
        if len(self.dag_id) > DAG_ID_MAX:
            shortest = len(self.name) - (len(self.dag_id) - DAG_ID_MAX)
            raise ValueError(
                f"metadata.name is too long: in namespace {self.namespace}, the DAG id {self.dag_id[:40]}... "
                f"would be {len(self.dag_id)} characters, and Airflow runs (and logs) at most {DAG_ID_MAX}; use a name "
                f"of at most {shortest} characters"
            )
        return self

    @property
    def key(self) -> str:
        """<namespace>__<name>: names the pipeline's file, its DAG and its home in local mode."""
        return f"{self.namespace}__{self.name}"

    @property
    def file_name(self) -> str:
        """The file (and ConfigMap key) holding this pipeline: <namespace>__<name>.yaml."""
        return f"{self.key}.yaml"

    @property
    def dag_id(self) -> str:
        return f"grocery__{self.key}"

    def to_yaml(self) -> str:
        """A GroceryPipeline document; the same text for the same spec, so re-rendering changes nothing."""
        doc = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self.spec.model_dump(mode="json", by_alias=True),
        }
        return yaml.safe_dump(doc, sort_keys=True)


def read_pipeline(text: str, origin: str) -> NamedPipeline:
    """Parse a GroceryPipeline document (a pipeline file or a manifest); errors name the origin."""
    try:
        doc = _read_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(not_valid_yaml(origin, exc), hint="check the file's syntax") from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise ConfigError(
            f"{origin}: not a {KIND} document", hint=f"expected kind: {KIND} with metadata.name and spec"
        )
    meta = doc.get("metadata") or {}
    if not meta.get("name"):
        raise ConfigError(f"{origin}: metadata.name is missing", hint="every pipeline needs a name")
    spec = parse_spec(doc.get("spec") or {}, origin=origin)
    return named_pipeline(meta["name"], meta.get("namespace") or "default", spec, origin)


def named_pipeline(name: str, namespace: str, spec: PipelineSpec, origin: str) -> NamedPipeline:
    """The pipeline of that name; a name it cannot take is a `ConfigError` that names the origin."""
    try:
        return NamedPipeline(name=name, namespace=namespace, spec=spec)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin), hint="rename the pipeline") from None
