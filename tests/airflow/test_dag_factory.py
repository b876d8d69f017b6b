"""The DAG factory: DAG files import cleanly, a broken pipeline file is its own import error, the DAG
follows the spec and the stage registry."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest

pytest.importorskip("airflow", reason="the airflow extra is not installed (scripts/setup.d/30-airflow.sh)")

from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.execution_time.context import MacrosAccessor

from grocery import stages as registry
from grocery.airflow import build_dag, dag_from_file
from grocery.airflow.factory import MAX_RETRY_DELAY, RETRY_BACKOFF
from grocery.config import DAG_ID_MAX, NamedPipeline, PipelineSpec, parse_spec
from grocery.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_project_dag_files_import_with_no_errors():
    bag = DagBag(str(REPO / "dags"))
    assert bag.import_errors == {}
    assert bag.dag_ids == ["grocery__default__grocery"]
    dag = bag.dags["grocery__default__grocery"]
    assert [t.task_id for t in dag.tasks] == registry.stage_names()
    assert "execution:local" in dag.tags


def test_a_broken_pipeline_file_is_an_import_error_naming_it_and_the_other_pipelines_still_load(
    tmp_path: Path, write_pipeline
):
    write_pipeline(tmp_path, "good")
    write_pipeline(tmp_path, "unknown-field", {"sourc": {"kind": "generator"}})
    write_pipeline(tmp_path, "bad-cron", {"schedule": "every morning"})
    write_pipeline(tmp_path, "bad-value", {"execution": {"retries": -1}})
    (tmp_path / "default__bad-yaml.yaml").write_text("kind: GroceryPipeline\nmetadata: {name: [\n")
    # A file whose name does not match the pipeline it holds would shadow another pipeline's DAG id.
    (tmp_path / "default__renamed.yaml").write_text((tmp_path / "default__good.yaml").read_text())
    from grocery.airflow.dagfile import sync_dag_files

    sync_dag_files(tmp_path)

    bag = DagBag(str(tmp_path))

    assert bag.dag_ids == ["grocery__default__good"]
    broken = ["bad-cron", "bad-value", "bad-yaml", "renamed", "unknown-field"]
    assert sorted(Path(p).name for p in bag.import_errors) == [f"default__{b}.py" for b in broken]
    for path, message in bag.import_errors.items():
        pipeline_file = str(Path(path).with_suffix(".yaml"))
        assert pipeline_file in message, message
    messages = {Path(p).stem.removeprefix("default__"): m for p, m in bag.import_errors.items()}
    assert "sourc" in messages["unknown-field"]
    assert "execution.retries" in messages["bad-value"]
    assert "every morning" in messages["bad-cron"]
    assert "not valid YAML" in messages["bad-yaml"]
    assert "default__good.yaml" in messages["renamed"]


def test_a_missing_pipeline_file_names_the_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"default__gone\.yaml: pipeline file not found"):
        dag_from_file(tmp_path / "default__gone.yaml")


# What a kubernetes-mode pipeline needs: a lake and a warehouse that every stage pod reaches.
SHARED_DATA = {"lake": "gs://shop-lake/nightly", "warehouse": {"kind": "bigquery", "project": "shop"}}


def _pipeline(name: str = "nightly", namespace: str = "shop", **overrides) -> NamedPipeline:
    return NamedPipeline(name=name, namespace=namespace, spec=PipelineSpec().with_overrides(**overrides))


def test_the_dag_follows_the_pipeline_spec(tmp_path: Path, write_pipeline):
    path = write_pipeline(
        tmp_path,
        "nightly",
        {
            "schedule": "0 6 * * *",
            "startDate": "2018-02-01",
            "catchup": True,
            "suspend": True,
            "execution": {"mode": "local", "retries": 3, "timeoutMinutes": 45},
        },
        namespace="shop",
    )
    dag = dag_from_file(path)

    assert dag.dag_id == "grocery__shop__nightly"
    assert dag.start_date == pendulum.datetime(2018, 2, 1, tz="UTC")
    assert dag.catchup is True
    assert dag.is_paused_upon_creation is True
    assert dag.max_active_runs == 1
    assert set(dag.tags) == {"grocery", "namespace:shop", "execution:local"}
    assert "shop/nightly" in dag.doc_md and str(path) in dag.doc_md
    for stage in registry.STAGES:
        assert f"`{stage.name}`" in dag.doc_md
    for task in dag.tasks:
        assert task.retries == 3
        assert task.retry_exponential_backoff == RETRY_BACKOFF
        assert task.max_retry_delay == MAX_RETRY_DELAY
        assert task.execution_timeout == timedelta(minutes=45)


def test_a_scheduled_run_processes_the_day_its_interval_covers():
    """The run of day D starts once D is over, and its {{ ds }} (the stages' --start) is D."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    dag = build_dag(_pipeline(**SHARED_DATA, **{"execution.mode": "kubernetes", "start_date": "2018-02-01"}))
    timetable = coerce_to_core_timetable(dag.timetable)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )
    assert first.logical_date == pendulum.datetime(2018, 2, 1, tz="UTC")  # ds = 2018-02-01
    assert first.data_interval.end == pendulum.datetime(2018, 2, 2, tz="UTC")
    assert first.run_after == pendulum.datetime(2018, 2, 2, tz="UTC")


@pytest.mark.parametrize(
    ("schedule", "timetable"),
    [(None, "NullTimetable"), ("@once", "OnceTimetable"), ("@daily", "CronDataIntervalTimetable")],
)
def test_the_schedule_comes_from_the_spec_and_null_means_only_on_request(schedule, timetable):
    spec = parse_spec({"schedule": schedule, "execution": {"mode": "kubernetes"}, **SHARED_DATA})
    dag = build_dag(NamedPipeline(name="p", spec=spec))
    assert type(dag.timetable).__name__ == timetable


def test_the_longest_name_the_spec_takes_makes_a_dag_id_airflow_takes_and_logs_under():
    from airflow.configuration import conf
    from airflow.models.base import ID_LEN

    assert DAG_ID_MAX <= ID_LEN
    name = "n" * (DAG_ID_MAX - len("grocery__shop__"))
    dag = build_dag(_pipeline(name=name, **SHARED_DATA, **{"execution.mode": "kubernetes"}))
    assert len(dag.dag_id) == DAG_ID_MAX
    # Each task's log folder is named after the DAG id: a file name takes at most 255 bytes.
    template = conf.get("logging", "log_filename_template")
    folder = template.split("/")[0].replace("{{ ti.dag_id }}", dag.dag_id)
    assert folder.startswith("dag_id=") and len(folder.encode()) <= 255
    with pytest.raises(ValueError, match=r"metadata\.name is too long"):
        _pipeline(name=name + "n")


def _spark_registry() -> tuple[registry.Stage, ...]:
    """The registry, with Spark stages added when it has none yet (they are being written)."""
    if any(s.engine == "spark" for s in registry.STAGES):
        return registry.STAGES
    extra = (
        registry.Stage(
            "segment", "RFM", ("exports/",), ("analytics/",), "spark", "grocery.spark.jobs:segment"
        ),
        registry.Stage(
            "recommend", "ALS", ("exports/",), ("analytics/",), "spark", "grocery.spark.jobs:recommend"
        ),
        registry.Stage(
            "publish", "Publish", ("analytics/",), ("warehouse:marts",), "python", "grocery.publish:run"
        ),
    )
    return registry.STAGES + extra


@pytest.mark.parametrize("mode", ["local", "kubernetes"])
@pytest.mark.parametrize("submitter", ["local", "operator", "livy"])
def test_one_task_per_registered_stage_in_registry_order(monkeypatch, tmp_path: Path, mode, submitter):
    monkeypatch.setattr(registry, "STAGES", _spark_registry())
    pipeline = _pipeline(**SHARED_DATA, **{"execution.mode": mode, "spark.submitter": submitter})
    source = tmp_path / pipeline.file_name
    source.write_text(pipeline.to_yaml())

    dag = build_dag(pipeline, source)

    names = [s.name for s in registry.STAGES]
    assert [t.task_id for t in dag.topological_sort()] == names
    for before, after in itertools.pairwise(names):
        assert dag.get_task(after).upstream_task_ids == {before}
    assert dag.get_task(names[0]).upstream_task_ids == set()


def test_local_mode_runs_the_grocery_cli_on_the_worker(tmp_path: Path, write_pipeline):
    path = write_pipeline(tmp_path, "laptop", {"schedule": "@weekly", "execution": {"mode": "local"}})
    dag = dag_from_file(path)
    for stage in registry.STAGES:
        task = dag.get_task(stage.name)
        assert type(task).__name__ == "BashOperator"
        task.render_template_fields({  # the @weekly run of 2018-01-07 .. 2018-01-13
            "ds": "2018-01-07", "macros": MacrosAccessor(),
            "data_interval_start": pendulum.datetime(2018, 1, 7, tz="UTC"),
            "data_interval_end": pendulum.datetime(2018, 1, 14, tz="UTC"),
        })  # fmt: skip
        command = task.bash_command
        executable, rest = command.split(" ", 1)
        assert Path(executable).name == "grocery"
        assert rest == (
            f"{stage.name} --start 2018-01-07 --end 2018-01-13 "
            f'--home "${{GROCERY_HOME:-$HOME/.grocery}}"/default__laptop --config {path.resolve()}'
        )
    assert "`$GROCERY_HOME/default__laptop` on the worker" in dag.doc_md


def test_local_mode_needs_the_pipeline_file():
    with pytest.raises(ConfigError, match="local mode needs the pipeline file"):
        build_dag(_pipeline(**{"execution.mode": "local"}))
