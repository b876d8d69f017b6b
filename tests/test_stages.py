"""The stage registry's run helpers."""

from __future__ import annotations

from dataclasses import replace

from grocery import stages

CALLS: list[str] = []


def record() -> None:
    CALLS.append("record")


def fail() -> None:
    CALLS.append("fail")
    raise ImportError("not installed")


def test_preload_runs_each_later_stages_preload_once_in_the_background() -> None:
    CALLS.clear()
    first, *later = stages.select(["extract", "load", "transform", "publish"])
    run = [
        replace(first, preload="test_stages:fail"),  # runs right away: nothing to preload
        replace(later[0], preload="test_stages:fail"),  # fails: left to the stage itself
        replace(later[1], preload="test_stages:record"),
        replace(later[2], preload="test_stages:record"),  # the same import twice: once
    ]
    thread = stages.preload(run)
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    assert CALLS == ["fail", "record"]


def test_dbt_stages_preload_dbt_and_a_run_of_one_stage_preloads_nothing() -> None:
    assert (
        stages.BY_NAME["transform"].preload
        == stages.BY_NAME["publish"].preload
        == "grocery.transform:import_dbt"
    )
    assert stages.preload(stages.select(["transform"])) is None
