"""The stage registry's run helpers."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

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
    thread = stages.preload("ctx", run)
    assert thread is not None and thread.daemon
    thread.join(timeout=10)
    # The context is read in the caller's thread; the work runs in the background.
    here = threading.current_thread().name
    assert calls == [f"prepared ctx in {here}", "failed", "recorded"]


def test_dbt_stages_preload_dbt_and_a_run_of_one_stage_preloads_nothing() -> None:
    assert (
        stages.BY_NAME["transform"].preload
        == stages.BY_NAME["publish"].preload
        == "grocery.transform:preload"
    )
    assert stages.preload("ctx", stages.select(["transform"])) is None
