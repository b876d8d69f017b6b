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
