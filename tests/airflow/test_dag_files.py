"""DAG files: one per pipeline file, all the same text, kept in step by `sync_dag_files`."""

from __future__ import annotations

from pathlib import Path

from grocery.airflow.__main__ import main
from grocery.airflow.dagfile import DAG_FILE, dag_file_name, pipeline_files, sync_dag_files

REPO = Path(__file__).resolve().parents[2]


def test_the_project_dags_folder_holds_a_generated_dag_file_for_each_pipeline_file_and_nothing_else():
    folder = REPO / "dags"
    pipelines = pipeline_files(folder)
    assert pipelines, "dags/ holds the project's own pipeline"
    python_files = sorted(folder.glob("*.py"))
    assert python_files == [p.with_suffix(".py") for p in pipelines]
    for dag_file in python_files:
        assert dag_file.read_text() == DAG_FILE, f"{dag_file} differs from grocery.airflow.dagfile.DAG_FILE"


def test_airflow_would_parse_the_dag_file():
    # Airflow's safe mode skips .py files that do not mention both words.
    assert "airflow" in DAG_FILE.lower() and "dag" in DAG_FILE.lower()
    compile(DAG_FILE, "dag_file.py", "exec")


def test_sync_writes_missing_dag_files_removes_orphans_and_leaves_other_files(tmp_path: Path):
    (tmp_path / "default__a.yaml").write_text("kind: GroceryPipeline\n")
    (tmp_path / "shop__b.yaml").write_text("kind: GroceryPipeline\n")
    (tmp_path / "notes.yaml").write_text("not a pipeline file name\n")
    (tmp_path / "default__gone.py").write_text(DAG_FILE)  # its pipeline was deleted
    (tmp_path / "helper.py").write_text("# someone else's file\n")

    written, removed = sync_dag_files(tmp_path)

    assert [p.name for p in written] == ["default__a.py", "shop__b.py"]
    assert [p.name for p in removed] == ["default__gone.py"]
    assert sorted(p.name for p in tmp_path.glob("*.py")) == ["default__a.py", "helper.py", "shop__b.py"]
    mtime = (tmp_path / "default__a.py").stat().st_mtime_ns
    assert sync_dag_files(tmp_path) == ([], [])  # nothing to do the second time: Airflow parses nothing again
    assert (tmp_path / "default__a.py").stat().st_mtime_ns == mtime


def test_sync_command(tmp_path: Path, capsys):
    (tmp_path / "default__a.yaml").write_text("kind: GroceryPipeline\n")
    assert main(["sync", str(tmp_path)]) == 0
    assert "default__a.py" in capsys.readouterr().out
    assert main(["sync", str(tmp_path / "missing")]) == 1
    assert main([]) == 2


def test_the_dag_file_name_for_a_configmap_key():
    assert dag_file_name("shop__nightly.yaml") == "shop__nightly.py"
