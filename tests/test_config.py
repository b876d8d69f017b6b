"""PipelineSpec: defaults with no file, overrides from grocery.yaml, errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from grocery.config import NamedPipeline, PipelineSpec, load_spec, parse_spec, read_pipeline
from grocery.errors import ConfigError


def test_no_file_at_all_gives_the_embedded_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec()
    assert spec.source.kind == "generator"
    assert spec.warehouse.kind == "duckdb"
    assert spec.spark.submitter == "local"
    assert spec.lake is None


def test_a_yaml_file_overrides_with_camel_case_fields(tmp_path: Path) -> None:
    path = tmp_path / "grocery.yaml"
    path.write_text(
        "source: {kind: generator, scale: 0.5, seed: 3}\n"
        "warehouse: {kind: bigquery, project: shop-prod, datasetPrefix: dev_}\n"
        "models: {als: {holdoutDays: 7, topN: 5}}\n"
    )
    spec = load_spec(path)
    assert spec.source.scale == 0.5
    assert spec.warehouse.kind == "bigquery"
    assert spec.warehouse.dataset_prefix == "dev_"
    assert spec.models.als.holdout_days == 7
    assert spec.models.als.top_n == 5


@pytest.mark.parametrize(
    ("yaml_text", "path_in_message"),
    [
        ("source: {kind: ftp}\n", "source.kind"),
        ("source: {scale: -1}\n", "source.scale"),
        ("models: {als: {rank: 0}}\n", "models.als.rank"),
        ("spark: {submiter: livy}\n", "spark.submiter"),
        ("colour: blue\n", "colour"),
        ("warehouse: {kind: bigquery}\n", "warehouse.bigquery.project"),
        ("source: {kind: path}\n", "source"),
        # Numbers are finite numbers: infinity crashed ALS, a boolean was read as 1.
        ("models: {als: {alpha: .inf}}\n", "models.als.alpha"),
        ("models: {als: {alpha: 1e39}}\n", "models.als.alpha"),
        ("models: {als: {regParam: .inf}}\n", "models.als.regParam"),
        ("models: {als: {maxIter: true}}\n", "models.als.maxIter"),
        ("models: {rfm: {bins: true}}\n", "models.rfm.bins"),
        ("source: {scale: .nan}\n", "source.scale"),
    ],
)
def test_invalid_or_unknown_fields_are_refused_with_their_path(
    tmp_path: Path, yaml_text: str, path_in_message: str
) -> None:
    path, error = _refused(tmp_path, yaml_text)
    assert path_in_message in str(error)
    assert str(path) in str(error)
    assert "\n" not in str(error)


def _refused(tmp_path: Path, yaml_text: str) -> tuple[Path, ConfigError]:
    """A grocery.yaml of that text, and the error of reading it."""
    path = tmp_path / "grocery.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    return path, info.value


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("source: {scael: 2}\n", "source.scael: unknown field (did you mean scale?)"),
        (
            "models: {als: {holdout_day: 3}}\n",
            "models.als.holdout_day: unknown field (did you mean holdoutDays?)",
        ),
        ("sheduel: '@daily'\n", "sheduel: unknown field (did you mean schedule?)"),
        (
            "source: {xyz: 2}\n",
            "source.xyz: unknown field (known: kind, scale, seed, path, dataset, encoding)",
        ),
    ],
)
def test_an_unknown_field_is_named_with_the_nearest_field_the_spec_has(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path, error = _refused(tmp_path, yaml_text)
    assert error.message == f"{path}: {message}"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "schedule: every day\n",
            "schedule: 'every day' is not of the form cron expression (e.g. '0 6 * * *') or Airflow preset "
            "(@daily, @hourly, ...)",
        ),
        ("schedule: '@dayly'\n", "schedule: '@dayly' is not of the form cron expression"),
        # The form of a cron expression, with a field out of its range: refused as Airflow refuses it.
        (
            "schedule: '61 * * * *'\n",
            "schedule: '61 * * * *' is not a cron expression Airflow accepts: out of range",
        ),
        (
            "schedule: '0 6 * * 8'\n",
            "schedule: '0 6 * * 8' is not a cron expression Airflow accepts: out of range",
        ),
        (
            "lake: s3://bucket/x\n",
            "lake: 's3://bucket/x' is not of the form lake URI, file:///path or gs://bucket/prefix",
        ),
        (  # a relative path: Spark would read it elsewhere than DuckDB writes it
            "lake: file://mylake/sub\n",
            "lake: 'file://mylake/sub' is not of the form lake URI, file:///path or gs://bucket/prefix",
        ),
        (
            "startDate: '2018-02-30'\n",
            "startDate: 2018-02-30 is not a calendar date (day is out of range for month)",
        ),
        # Unquoted, as YAML would read a date: the same words, not YAML's error without a field.
        (
            "startDate: 2018-02-30\n",
            "startDate: 2018-02-30 is not a calendar date (day is out of range for month)",
        ),
        (
            "startDate: 2018-05-01 06:00:00\n",
            "startDate: '2018-05-01 06:00:00' is not of the form first day of the schedule (YYYY-MM-DD)",
        ),
        (
            "spark: {driver: {memory: -4}}\n",
            "spark.driver.memory: '-4' is not of the form memory, Spark style",
        ),
        ("spark: {driver: {memory: 4}}\n", "spark.driver.memory: 4 has no unit: write it with one, as in 4g"),
        (
            "spark: {driver: {memory: '4'}}\n",
            "spark.driver.memory: 4 has no unit: write it with one, as in 4g",
        ),
        ("spark: {executor: {memory: true}}\n", "spark.executor.memory: Input should be a valid string"),
        ("spark: {driver: {memory: 4.5}}\n", "spark.driver.memory: Input should be a valid string"),
        ("source: {kind: path}\n", "source: source.path is required when source.kind is 'path'"),
    ],
)
def test_a_value_without_the_right_form_is_told_in_the_fields_own_words(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path, error = _refused(tmp_path, yaml_text)
    assert error.message.startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    "schedule",
    [
        "@daily",
        "@hourly",
        "@once",
        "0 6 * * *",
        "*/15 * * * mon-fri",
        "0 0 6 * * * 2026",
        "0 0 * * 5#3",
        None,
    ],
)
def test_cron_expressions_and_presets_are_schedules(schedule: str | None) -> None:
    assert PipelineSpec.model_validate({"schedule": schedule}).schedule == schedule


def test_an_unquoted_date_is_taken_as_written(tmp_path: Path) -> None:
    """YAML reads `2018-05-01` as a date; the spec takes it as its text."""
    path = tmp_path / "grocery.yaml"
    path.write_text("startDate: 2018-05-01\nspark: {driver: {memory: 4G}, executor: {memory: 512m}}\n")
    spec = load_spec(path)
    assert spec.start_date == "2018-05-01"
    assert (spec.spark.driver.memory, spec.spark.executor.memory) == ("4G", "512m")
    manifest = "kind: GroceryPipeline\nmetadata: {name: x}\nspec: {startDate: 2018-05-01}\n"
    assert read_pipeline(manifest, "cm/key").spec.start_date == "2018-05-01"


def test_a_grocerypipeline_manifest_is_read_as_its_spec(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        "apiVersion: grocery.io/v1alpha1\nkind: GroceryPipeline\nmetadata: {name: x}\nspec: {schedule: '@hourly'}\n"
    )
    assert load_spec(path).schedule == "@hourly"


def test_missing_and_malformed_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=f"cannot read config file {tmp_path}: Is a directory"):
        load_spec(tmp_path)
    listed = tmp_path / "list.yaml"
    listed.write_text("- source\n- lake\n")
    with pytest.raises(ConfigError, match="expected a mapping of fields at the top level") as raised:
        load_spec(listed)
    assert "grocery config" in (raised.value.hint or "")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_spec(binary)
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError) as raised:
        load_spec(bad)
    assert str(raised.value) == (
        f"{bad}: not valid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>' "
        "(check the file's syntax)"
    )
    bad.write_text("source:\n\tkind: path\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 2, column 1: found character '\\t' that"):
        load_spec(bad)


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({}, "lake is the default (a folder in the pod) and warehouse.kind is duckdb"),
        ({"lake": "file:///data/lake"}, "lake is file:///data/lake and warehouse.kind is duckdb"),
        ({"lake": "gs://shop-lake/prod"}, "warehouse.kind is duckdb"),
        (
            {"lake": "file:///data/lake", "warehouse": {"kind": "bigquery", "project": "shop"}},
            "lake is file:///data/lake",
        ),
    ],
)
def test_kubernetes_mode_is_refused_unless_lake_and_warehouse_are_shared_services(
    fields: dict, why: str
) -> None:
    """Each stage pod has a /tmp of its own: a local lake or DuckDB file written by one stage is gone
    for the next, so such a spec would fail every run at `load`."""
    with pytest.raises(ConfigError) as raised:
        parse_spec({"execution": {"mode": "kubernetes"}, **fields}, origin="gp shop/nightly")
    assert raised.value.message == (
        "gp shop/nightly: execution.mode: kubernetes runs each stage in a pod of its own, which sees no "
        f"other pod's files, but {why}: set lake to a gs:// URI and warehouse.kind to bigquery, or "
        "execution.mode to local"
    )
    shared = {"lake": "gs://shop-lake/prod", "warehouse": {"kind": "bigquery", "project": "shop"}}
    assert parse_spec({"execution": {"mode": "kubernetes"}, **shared}).execution.mode == "kubernetes"
    assert parse_spec(fields).execution.mode == "local"  # the same lake and warehouse in local mode


def test_a_name_too_long_for_an_airflow_dag_id_is_refused_with_the_length_it_may_have() -> None:
    """Kubernetes takes a name of 253 characters; Airflow's DAG id (grocery__<namespace>__<name>) at
    most 248 (its tasks log under a folder `dag_id=<DAG id>`), the ConfigMap keys <namespace>__<name>.yaml
    at most 253."""
    longest = "n" * (248 - len("grocery__shop__"))
    pipeline = NamedPipeline(name=longest, namespace="shop")
    assert len(pipeline.dag_id) == 248 and len(pipeline.file_name) <= 253
    text = pipeline.to_yaml().replace(longest, longest + "x")
    with pytest.raises(ConfigError) as raised:
        read_pipeline(text, "configmap/key")
    assert raised.value.message == (
        f"configmap/key: metadata.name is too long: in namespace shop, the DAG id grocery__shop__{'n' * 25}... "
        "would be 249 characters, and Airflow runs (and logs) at most 248; use a name of at most 233 characters"
    )
    assert read_pipeline(pipeline.to_yaml(), "configmap/key") == pipeline


def test_overrides_are_validated_like_the_file() -> None:
    spec = PipelineSpec().with_overrides(**{"source.scale": 0.2, "source.seed": None})
    assert spec.source.scale == 0.2
    assert spec.source.seed == PipelineSpec().source.seed
    with pytest.raises(ConfigError, match=r"source\.scale"):
        PipelineSpec().with_overrides(**{"source.scale": 0})


def test_a_named_pipeline_round_trips_through_its_file_form() -> None:
    pipeline = NamedPipeline(name="daily", namespace="shop", spec=PipelineSpec(schedule="0 3 * * *"))
    text = pipeline.to_yaml()
    assert read_pipeline(text, "x") == pipeline
    assert pipeline.to_yaml() == text  # rendering is deterministic
    assert pipeline.file_name == "shop__daily.yaml"
    assert pipeline.dag_id == "grocery__shop__daily"
    with pytest.raises(ConfigError, match=r"metadata\.name"):
        read_pipeline("kind: GroceryPipeline\nmetadata: {}\n", "cm/key")
