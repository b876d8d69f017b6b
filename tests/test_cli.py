"""The console script itself (the commands are tested through the stages they run)."""

from __future__ import annotations

import gc

from grocery import cli


def test_the_console_script_freezes_the_heap_after_every_exit_handler_a_run_registers(monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(cli.atexit, "register", calls.append)
    monkeypatch.setattr(cli, "app", lambda: calls.append("the command ran"))
    cli.main()
    # Exit handlers run last-in, first-out: registered before the command, the freeze runs after
    # whatever the command registers (Spark's class archive, logging's flush).
    assert calls == [gc.freeze, "the command ran"]


def test_an_error_prints_square_brackets_as_they_are(monkeypatch) -> None:
    from typer.testing import CliRunner

    from grocery.benchmarks import spark
    from grocery.errors import ConfigError

    def missing() -> None:
        raise ConfigError("the baseline is not installed", hint="run pip install -e '.[bench]'")

    monkeypatch.setattr(spark, "require_baseline", missing)
    result = CliRunner().invoke(cli.app, ["benchmark", "spark"])
    assert result.exit_code == 1
    assert "error: the baseline is not installed (run pip install -e '.[bench]')" in result.output
