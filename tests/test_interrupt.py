"""Ctrl-C (or SIGTERM) in the middle of a run: one line naming the stage, exit status 130 (or 143),
and the same command run again completes the run."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from pipeline_support import fake_context

from grocery import cli, stages
from grocery.config import PipelineSpec
from grocery.errors import Interrupted


def finishes(ctx):
    return stages.StageResult("done")


def is_interrupted(ctx):
    raise KeyboardInterrupt


def fails_while_interrupted(ctx):
    # As py4j does when a Ctrl-C cuts it off from the JVM: its own error, raised while handling it.
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise ConnectionError("Answer from Java side is empty") from None


def fails(ctx):
    raise ValueError("a bug")


def _run(monkeypatch, home: Path, second_entry: str, then: list[stages.Stage] = ()) -> dict:
    first = replace(stages.BY_NAME["extract"], entry="test_interrupt:finishes", preload=None)
    second = replace(stages.BY_NAME["load"], entry=f"test_interrupt:{second_entry}", preload=None)
    monkeypatch.setattr(stages, "select", lambda names: [first, second, *then])
    closed = []
    ctx = fake_context(home, close=lambda: closed.append(1))
    try:
        return cli.run_stages(ctx, None)
    finally:
        assert closed, "the context was not closed"


@pytest.mark.parametrize(
    "entry", ["is_interrupted", "fails_while_interrupted", "fails_after_swallowing_an_interrupt"]
)
def test_a_stage_interrupted_is_named_and_exits_130(monkeypatch, tmp_path, entry) -> None:
    with pytest.raises(Interrupted) as raised:
        _run(monkeypatch, tmp_path, entry)
    assert str(raised.value) == (
        "interrupted in the load stage (the stages before it are done; run the same command again to "
        "complete the run)"
    )
    assert raised.value.exit_code == 130


def test_any_other_failure_keeps_its_traceback(monkeypatch, tmp_path) -> None:
    with pytest.raises(ValueError, match="a bug"):
        _run(monkeypatch, tmp_path, "fails")


def terminated(ctx):
    cli._raise_interrupt(signal.SIGTERM, None)


def swallows_an_interrupt(ctx):
    # As dbt does when a Ctrl-C comes while it reads its saved manifest: mashumaro's code turns the
    # interrupt into an error of its own, which dbt takes for a bad file, and it parses again.
    try:
        cli._raise_interrupt(signal.SIGINT, None)
    except Exception:
        pass
    except BaseException as interrupt:
        try:
            raise ValueError("not a valid field value") from interrupt
        except ValueError:
            pass
    return stages.StageResult("done, as if nothing had happened")


def test_a_sigterm_is_named_and_exits_143(monkeypatch, tmp_path) -> None:
    with pytest.raises(Interrupted) as raised:
        _run(monkeypatch, tmp_path, "terminated")
    assert str(raised.value).startswith("terminated (SIGTERM) in the load stage (the stages before it")
    assert raised.value.exit_code == 143


def fails_after_swallowing_an_interrupt(ctx):
    with contextlib.suppress(BaseException):  # the library's own error comes later, without it
        cli._raise_interrupt(signal.SIGINT, None)
    raise RuntimeError("Connection Error: Connection already closed!")


def must_not_run(ctx):
    raise AssertionError("a stage ran after the interrupt")


def test_an_interrupt_a_stage_swallowed_stops_the_run_after_that_stage(monkeypatch, tmp_path) -> None:
    third = replace(stages.BY_NAME["transform"], entry="test_interrupt:must_not_run", preload=None)
    with pytest.raises(Interrupted) as raised:
        _run(monkeypatch, tmp_path, "swallows_an_interrupt", then=[third])
    assert str(raised.value).startswith("interrupted in the load stage (the stages before it")
    assert raised.value.exit_code == 130


def test_an_error_dbt_raised_while_it_handled_an_interrupt_is_an_interruption(monkeypatch, tmp_path) -> None:
    # dbt ends its run at a Ctrl-C and closes the connections still in use; DuckDB may then raise
    # "Connection already closed" in its place. The transform passes it on rather than call it a
    # failed build, and the run names the interrupt.
    import dbt.cli.main
    from dbt.cli.main import dbtRunnerResult

    from grocery import transform
    from grocery.interval import DataInterval

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("Connection Error: Connection already closed!")  # noqa: B904 - as dbt does
    except RuntimeError as error:
        closed = error

    class Runner:
        def __init__(self, callbacks=()):
            pass

        def invoke(self, args):
            return dbtRunnerResult(success=False, exception=closed)

    monkeypatch.setattr(dbt.cli.main, "dbtRunner", Runner)
    ctx = SimpleNamespace(
        spec=PipelineSpec(),
        warehouse=SimpleNamespace(dbt_target=lambda: ("duckdb", {})),
        home=tmp_path,
        interval=DataInterval.everything(),
        close=lambda: None,
        progress=SimpleNamespace(info=lambda message: None),
    )
    with pytest.raises(RuntimeError, match="already closed") as raised:
        transform.dbt_build(ctx)
    assert cli._interruption(raised.value) == signal.SIGINT


@pytest.mark.parametrize(("sent", "status", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated (SIGTERM)")])  # fmt: skip
def test_a_signal_in_dbt_stops_the_run_and_the_same_command_completes_it(
    tmp_path, sent, status, said
) -> None:
    # A real Ctrl-C (SIGINT), or the SIGTERM of a pod's deletion, while dbt builds the models: dbt
    # catches it and ends its run, and the transform says why it stopped rather than that dbt failed.
    home = tmp_path / "home"
    command = [sys.executable, "-m", "grocery.cli", "run", "--stages", "extract,load,transform",
               "--home", str(home), "--scale", "0.001"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "1000"}
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    ) as run:  # fmt: skip
        lines = []
        for line in run.stdout:
            lines.append(line)
            if line.startswith("  model "):  # dbt has begun building
                run.send_signal(sent)
                break
        lines.extend(run.stdout)
        assert run.wait(timeout=120) == status, "".join(lines)
    assert lines[-1].rstrip() == (
        f"error: {said} in the transform stage (the stages before it are done; run the same "
        "command again to complete the run)"
    )

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "tests passed" in again.stderr  # the progress lines; the answers go to stdout


@pytest.mark.parametrize(("sent", "status", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                      (signal.SIGTERM, 143, "terminated (SIGTERM)")])  # fmt: skip
def test_a_signal_before_any_stage_ends_the_command_at_once_in_one_line(sent, status, said) -> None:
    # Outside the stages (Python importing, typer parsing, a command reading the home) the interrupt
    # used to be raised there: typer turned it into a silent exit 130, a SIGTERM included, or it
    # ended in a traceback, or, landing in duckdb's import, aborted the process.
    command = (
        "import sys, time\n"
        "from grocery import cli\n"
        "def app():\n    print('ready', flush=True)\n    time.sleep(60)\n"
        "cli.app = app\n"
        "cli.main()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    ) as process:  # fmt: skip
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(sent)
        _, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr) == (status, f"error: {said}\n")


def _sleeping_command(entry: str) -> str:
    """A process whose command sleeps until a signal comes, `entry` its main."""
    return (
        "import sys, time\n"
        "from grocery import cli\n"
        "from grocery.spark import submit\n"
        "def app(*args, **kwargs):\n    print('ready', flush=True)\n    time.sleep(60)\n"
        "cli.app = submit.app = app\n"
        f"{entry}\n"
    )


def test_a_signal_before_any_stage_on_a_terminal_leaves_it_as_it_was() -> None:
    # A spinner (rich's status) hides the cursor and holds the last line: the line must be cleared
    # and the cursor shown again, as rich does when its spinner ends.
    import pty

    main, other = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-c", _sleeping_command("cli.main()")],
        stdout=subprocess.PIPE,
        stderr=other,
        text=True,
    ) as process:
        os.close(other)
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    written = os.read(main, 4096)
    os.close(main)
    assert written.replace(b"\r\n", b"\n") == b"\r\x1b[2K\x1b[?25herror: terminated (SIGTERM)\n"


def test_a_signal_before_any_stage_ends_the_command_as_well_when_no_one_reads_it() -> None:
    # `grocery ... 2>&1 | head -1`: the reader has gone, and writing the line fails with EPIPE; the
    # command used to end in status 1, its handler cut short.
    with subprocess.Popen(
        [sys.executable, "-c", _sleeping_command("cli.main()")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == b"ready\n"
        assert process.stderr is not None
        process.stderr.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143


def test_a_spark_app_stops_on_sigterm_as_grocery_does(tmp_path) -> None:
    # spark_apps/<stage>.py is the driver's entry under spark-submit, not `grocery`'s main: a SIGTERM
    # (the driver pod deleted) killed it without a word. (Ended at once outside its stage, the entry
    # leaves the folder of its spec: in tmp_path, not /tmp.)
    with subprocess.Popen(
        [sys.executable, "-c", _sleeping_command("submit.main('segment', [])")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(tmp_path)},
    ) as process:  # fmt: skip
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert (process.returncode, stderr) == (143, "error: terminated (SIGTERM)\n")


def test_a_signal_while_leftovers_are_removed_stops_the_run_in_one_line(monkeypatch, tmp_path) -> None:
    # Removing a killed command's leftovers (a whole delivery's copy) takes seconds: an interrupt
    # there reached typer raw, a silent exit 130 even for a SIGTERM.
    def interrupted() -> None:
        raise cli.Terminated

    ctx = fake_context(tmp_path / "home")
    ctx.remove_leftovers = interrupted
    monkeypatch.setattr(stages, "select", lambda names: [stages.BY_NAME["extract"]])
    with pytest.raises(Interrupted, match=r"terminated \(SIGTERM\) in the extract stage") as raised:
        cli.run_stages(ctx, None)
    assert raised.value.exit_code == 143
