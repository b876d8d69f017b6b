"""The stage registry's run helpers."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import replace
from typing import Any

from pipeline_support import fake_context

from grocery import stages

calls: list[str] = []


def record(ctx: Any):
    calls.append(f"prepared {ctx} in {threading.current_thread().name}")
    return lambda: calls.append("recorded")


def fail(ctx: Any):
    def work() -> None:
        calls.append("failed")
        raise ImportError("not installed")

    return work


def test_preload_runs_each_later_stages_preload_once_in_the_background() -> None:
    calls.clear()
    first, *later = stages.select(["extract", "load", "transform", "publish"])
    run = [
        replace(first, preload="test_stages:fail"),  # runs right away: nothing to preload
        replace(later[0], preload="test_stages:fail"),  # fails: left to the stage itself
        replace(later[1], preload="test_stages:record"),
        replace(later[2], preload="test_stages:record"),  # the same work twice: once
    ]
    preloads = stages.preload("ctx", run)
    assert preloads is not None and preloads.thread.daemon
    preloads.thread.join(timeout=10)
    # The context is read in the caller's thread; the work runs in the background.
    here = threading.current_thread().name
    assert calls == [f"prepared ctx in {here}", "failed", "recorded"]


release = threading.Event()


def blocked(ctx: Any):
    def work() -> None:
        calls.append("blocked")
        release.wait(timeout=10)
        calls.append("released")

    return work


def test_a_stage_waits_for_its_own_preload_only() -> None:
    calls.clear()
    release.clear()
    first, transform, segment, publish = stages.select(["load", "transform", "segment", "publish"])
    run = [
        first,
        replace(transform, preload="test_stages:record"),
        replace(segment, preload="test_stages:blocked"),
        replace(publish, preload="test_stages:record"),  # transform's work: done with it
    ]
    preloads = stages.preload("ctx", run)
    assert preloads is not None
    waited = threading.Thread(target=preloads.wait, args=("transform",))
    waited.start()
    waited.join(timeout=5)
    assert not waited.is_alive()  # transform's preload is over while segment's still runs
    preloads.wait("publish")
    preloads.wait("load")  # no preload: at once
    assert calls[-2:] == ["recorded", "blocked"]
    segment_waits = threading.Thread(target=preloads.wait, args=("segment",))
    segment_waits.start()
    segment_waits.join(timeout=0.2)
    assert segment_waits.is_alive()
    release.set()
    segment_waits.join(timeout=5)
    assert not segment_waits.is_alive() and calls[-1] == "released"


def test_the_gil_changes_hands_faster_while_a_preload_runs_and_as_before_after() -> None:
    calls.clear()
    release.clear()
    before = sys.getswitchinterval()
    first, transform = stages.select(["load", "transform"])
    preloads = stages.preload("ctx", [first, replace(transform, preload="test_stages:blocked")])
    assert preloads is not None
    try:
        assert sys.getswitchinterval() == stages.PRELOAD_SWITCH_INTERVAL < before
    finally:
        release.set()
    preloads.thread.join(timeout=5)
    assert not preloads.thread.is_alive() and sys.getswitchinterval() == before


def test_dbt_and_spark_stages_preload_and_a_run_of_one_stage_preloads_nothing() -> None:
    assert (
        stages.BY_NAME["transform"].preload
        == stages.BY_NAME["publish"].preload
        == "grocery.transform:preload"
    )
    assert stages.BY_NAME["segment"].preload == "grocery.segment:preload"
    assert stages.BY_NAME["recommend"].preload == "grocery.recommend:preload"
    assert stages.preload("ctx", stages.select(["transform"])) is None


def slow_preload(ctx: Any):
    return lambda: time.sleep(0.3)


def reports_its_own_seconds(ctx: Any) -> stages.StageResult:
    return stages.StageResult("done", {"seconds": 0.0, "rows": 7})


def test_a_stage_reports_its_wall_time_with_its_preload_wait_whatever_its_metrics_say(
    monkeypatch, tmp_path
) -> None:
    from grocery import cli

    first, second = (
        replace(stages.BY_NAME["extract"], entry="test_stages:reports_its_own_seconds"),
        replace(
            stages.BY_NAME["transform"],
            entry="test_stages:reports_its_own_seconds",
            preload="test_stages:slow_preload",
        ),
    )
    monkeypatch.setattr(stages, "select", lambda names: [first, second])
    results = cli.run_stages(fake_context(tmp_path), None)
    assert results["transform"]["rows"] == 7
    assert results["transform"]["seconds"] >= 0.3  # the preload's wait, not the stage's own 0.0


def test_each_engines_packages_are_in_the_extra_named_for_them() -> None:
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    from tests.deploy.conftest import ROOT

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for engine in ("python", "dbt", "spark"):
        for kind in ("duckdb", "bigquery"):
            packages, extra = stages.engine_packages(engine, kind)
            if packages:
                distributions = {distribution for _, distribution in packages}
                assert distributions <= {Requirement(r).name for r in extras[extra]}, (engine, kind)
            for module, distribution in packages:  # the module is the distribution's
                files = importlib.metadata.files(distribution) or []
                assert any(str(f).startswith(module.replace(".", "/") + "/") for f in files), module
    assert stages.engine_packages("dbt", "bigquery")[1] == "dbt-bigquery"


def test_a_run_stops_before_its_first_stage_when_a_later_stage_cannot_run(tmp_path, monkeypatch) -> None:
    # Not after extract, load and transform have run: a missing engine or Java is known at the start.
    import importlib.util

    from typer.testing import CliRunner

    from grocery import cli

    home = tmp_path / "home"
    real = importlib.util.find_spec

    def without_pyspark(name: str, *args):
        return None if name == "pyspark" else real(name, *args)

    with monkeypatch.context() as patched:
        patched.setattr(importlib.util, "find_spec", without_pyspark)
        result = CliRunner().invoke(cli.app, ["run", "--home", str(home), "--scale", "0.001"],
                                    env={"COLUMNS": "1000"})  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == (
        "error: the segment stage runs on spark, and pyspark is not installed "
        "(pip install 'grocery-pipeline[spark]', or ./dev setup in a checkout)"
    )
    assert not (home / "lake").exists()

    result = CliRunner().invoke(cli.app, ["recommend", "--home", str(home)],
                                env={"COLUMNS": "1000", "JAVA_HOME": str(tmp_path / "no-jdk")})  # fmt: skip
    assert result.exit_code == 1, result.output
    assert (
        f"error: Spark needs Java 17, and there is no java in JAVA_HOME ({tmp_path / 'no-jdk'})"
        in result.output
    )
    assert "exporting" not in result.output  # the stage's export did not start

    result = CliRunner().invoke(cli.app, ["run", "--stages", "extract,load", "--home", str(home), "--scale", "0.001"],
                                env={"COLUMNS": "1000", "JAVA_HOME": str(tmp_path / "no-jdk")})  # fmt: skip
    assert result.exit_code == 0, result.output  # no Spark stage: no need of Java
