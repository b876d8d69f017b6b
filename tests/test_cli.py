"""The console script itself (the commands are tested through the stages they run)."""

from __future__ import annotations

import gc
import json

import pytest

from grocery import cli
from grocery.errors import StageError


def test_the_console_script_freezes_the_heap_after_every_exit_handler_a_run_registers(monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(cli.atexit, "register", calls.append)
    monkeypatch.setattr(cli, "quiet_when_unread", lambda: None)  # pytest's capture stays as it is
    monkeypatch.setattr(cli, "app", lambda: calls.append("the command ran"))
    cli.main()
    # Exit handlers run last-in, first-out: registered before the command, the freeze runs after
    # whatever the command registers (Spark's class archive, logging's flush).
    assert calls == [gc.freeze, "the command ran"]


def test_a_flag_is_shown_as_a_flag_not_as_an_option_taking_a_value() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, ["run", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "--json" in result.output and "Print stage results as JSON" in result.output
    assert "<bool>" not in result.output


@pytest.mark.parametrize("option", ["--date", "--start", "--end"])
def test_a_value_that_is_not_a_date_is_named_with_its_option(option: str) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, ["run", option, "2018-13-01"], env={"COLUMNS": "1000"})
    assert result.exit_code == 2
    assert f"Invalid value for '{option}': '2018-13-01' is not a date; use YYYY-MM-DD" in result.output


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


def test_a_file_where_a_folder_is_wanted_is_refused_before_anything_runs(tmp_path) -> None:
    from typer.testing import CliRunner

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    for args, option in (
        (["run", "--home", str(a_file)], "'--home'"),
        (
            ["segment", "--input", str(a_file), "--home", str(tmp_path / "home")],
            "'--input'",
        ),  # (a .zip would do)
        (["generate", str(a_file)], "'output'"),
    ):
        result = CliRunner().invoke(cli.app, args, env={"COLUMNS": "1000"})  # the error's box, unwrapped
        assert result.exit_code == 2, result.output
        assert f"Invalid value for {option}" in result.output
        assert "is a file" in result.output
        assert not (tmp_path / "home").exists()
    assert a_file.read_text() == "not a folder"


def test_a_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path) -> None:
    """Beneath a file, no folder can be made: each command that writes one says which, in one line."""
    from typer.testing import CliRunner

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    home = a_file / "home"
    for args, said in (
        (["run", "--home", str(home), "--scale", "0.001"], f"cannot create the home {home}: Not a directory"),
        (["transform", "--home", str(home)], f"cannot create the folder of the DuckDB warehouse {home}"),
        (["segment", "--home", str(home)], f"cannot create the folder of the DuckDB warehouse {home}"),
        (
            ["generate", str(a_file / "out")],
            f"cannot create the output folder {a_file / 'out'}: Not a directory",
        ),
        (
            ["crd", "-o", str(a_file / "crd.yaml")],
            f"cannot create the output's folder {a_file}: a file has that name",
        ),
    ):
        result = CliRunner().invoke(cli.app, args, env={"COLUMNS": "1000"})
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.strip().splitlines()[-1].startswith(f"error: {said}"), (args, result.stderr)
        assert "Traceback" not in result.output
    assert a_file.read_text() == "not a folder"


def test_generate_refuses_a_scale_or_seed_the_pipeline_spec_refuses(tmp_path) -> None:
    from typer.testing import CliRunner

    for option, value, said in (("--scale", "-1", "source.scale"), ("--scale", "0", "source.scale"),
                                ("--seed", "-5", "source.seed")):  # fmt: skip
        result = CliRunner().invoke(cli.app, ["generate", str(tmp_path / "out"), option, value],
                                    env={"COLUMNS": "1000"})  # fmt: skip
        assert result.exit_code == 1, result.output
        assert f"error: command-line options: {said}: Input should be greater than" in result.output
        assert not (tmp_path / "out").exists()


def test_an_input_folder_with_a_source_that_reads_none_is_refused(tmp_path) -> None:
    # --input implies --source path; with another source it used to be ignored without a word.
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        cli.app, ["extract", "--source", "generator", "--input", str(tmp_path), "--home", str(tmp_path / "h")]
    )
    assert result.exit_code == 1, result.output
    assert "error: --input reads a folder, and --source generator reads none" in result.output
    assert not (tmp_path / "h").exists()


def test_a_stage_list_naming_no_stage_or_an_unknown_one_is_refused_before_anything_runs(tmp_path) -> None:
    from typer.testing import CliRunner

    home = tmp_path / "home"
    for given, said in ((",", "error: --stages ',' names no stage (name some of: extract, load, "),
                        (" ", "error: --stages ' ' names no stage"),
                        ("load,shop", "error: unknown stage shop (known stages: extract, load, ")):  # fmt: skip
        result = CliRunner().invoke(
            cli.app, ["run", "--stages", given, "--home", str(home)], env={"COLUMNS": "1000"}
        )
        assert result.exit_code == 1, result.output
        assert said in result.output
        assert not home.exists()


def test_version_prints_the_installed_distributions_version() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    result = CliRunner().invoke(cli.app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"grocery-pipeline {version('grocery-pipeline')}\n"


def test_a_second_command_in_a_home_in_use_stops_at_once_naming_the_first(tmp_path) -> None:
    import os

    from typer.testing import CliRunner

    from grocery.context import hold_home

    home = tmp_path / "home"
    with hold_home(home):  # as a run in another terminal holds it
        for args in (["extract"], ["run", "--stages", "extract,load"], ["purge", "--yes"]):
            result = CliRunner().invoke(cli.app, [*args, "--home", str(home)], env={"COLUMNS": "1000"})
            assert result.exit_code == 1, result.output
            (line,) = result.output.strip().splitlines()
            assert line.startswith(
                f"error: another grocery command is working in {home} (PID {os.getpid()}: "
            )
            assert line.endswith("(wait for it to end, or give this one another --home)")
    assert not (home / "lake").exists()  # nothing landed beside it
    result = CliRunner().invoke(cli.app, ["purge", "--yes", "--home", str(home)])  # the home is free again
    assert result.exit_code == 0, result.output


def test_the_home_is_free_again_when_the_command_holding_it_dies(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    from grocery.context import hold_home

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from grocery.context import hold_home\n"
         "with hold_home(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StageError, match=f"PID {holder.pid}: "), hold_home(tmp_path):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no chance to release anything itself
        holder.wait(timeout=10)
    with hold_home(tmp_path):
        pass


def test_a_home_this_user_cannot_make_is_used_without_a_lock(tmp_path) -> None:
    # As a Spark stage's driver runs in the Spark image's read-only /app: it writes nothing there.
    from grocery.context import hold_home

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    with hold_home(a_file / "home"):
        pass
    assert a_file.read_text() == "not a folder"


def test_square_brackets_in_a_path_are_printed_as_they_are(tmp_path) -> None:
    """A path is never rich markup: "[red]" is printed, and "[/x]" is no closing tag to fail on."""
    from typer.testing import CliRunner

    home = tmp_path / "h[/x] [red]"
    extracted = CliRunner().invoke(cli.app, ["extract", "--home", str(home), "--scale", "0.001"])
    assert extracted.exit_code == 0, extracted.output
    assert f"  done landing files in file://{home}/lake/raw (" in extracted.output
    status = CliRunner().invoke(cli.app, ["status", "--home", str(home)], env={"COLUMNS": "1000"})
    assert status.exit_code == 0, status.output
    assert f"warehouse  DuckDB {home / 'warehouse.duckdb'}" in status.output.splitlines()
    generated = CliRunner().invoke(cli.app, ["generate", str(tmp_path / "out[/x]"), "--scale", "0.001"])
    assert generated.exit_code == 0, generated.output
    assert generated.output.startswith(f"wrote 7 files to {tmp_path / 'out[/x]'} in ")


def test_square_brackets_in_the_data_are_printed_as_they_are(monkeypatch, capsys) -> None:
    """A product named "Tea [organic]" keeps its name in the answers' tables, and "[/oops]" prints."""
    from types import SimpleNamespace

    from grocery import answers

    rows = [{"product_name": name, "revenue": 12.5} for name in ("Tea [organic]", "Jam [/oops]", "[red]Figs")]
    monkeypatch.setattr(answers, "top_answers", lambda warehouse: {"Top products": rows})
    cli.show_answers(SimpleNamespace(warehouse=None, close=lambda: None))
    cells = [
        line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines() if line.startswith("│")
    ]
    assert cells == ["Tea [organic]", "Jam [/oops]", "[red]Figs"]


# A terminal acts on these instead of showing them: ESC starts a sequence (here: red text), U+009B
# (CSI) is one on its own, CR returns over what was printed, U+202E reverses the rest of the line.
HOSTILE = ["\x1b[31mRED\x1b[0m", "Zed\x9b2J", "ok\rEVIL", "\u202eevil", "two\nlines"]
SHOWN = ["\\x1b[31mRED\\x1b[0m", "Zed\\x9b2J", "ok\\x0dEVIL", "\\u202eevil", "two\\x0alines"]


def _raw_in(text: str) -> list[str]:
    """The characters of the hostile names found in printed text as they are."""
    return [c for c in "\x1b\x9b\r\u202e" if c in text]


def test_control_characters_in_the_data_are_printed_as_escapes_in_the_answers(monkeypatch, capsys) -> None:
    from types import SimpleNamespace

    from grocery import answers

    rows = [{"customer_name": name, "net_revenue": 12.5} for name in HOSTILE]
    monkeypatch.setattr(answers, "top_answers", lambda warehouse: {"Top customers": rows})
    cli.show_answers(SimpleNamespace(warehouse=None, close=lambda: None))
    printed = capsys.readouterr().out
    assert _raw_in(printed) == []
    cells = [line.split("│")[1].strip() for line in printed.splitlines() if line.startswith("│")]
    assert cells == SHOWN  # one line each: a newline in a name breaks no row


def test_control_characters_in_an_error_are_printed_as_escapes(monkeypatch) -> None:
    from typer.testing import CliRunner

    from grocery.benchmarks import spark
    from grocery.errors import InputError

    def hostile() -> None:
        raise InputError(f"sales.csv: unknown column {HOSTILE[0]} and {HOSTILE[3]}")

    monkeypatch.setattr(spark, "require_baseline", hostile)
    result = CliRunner().invoke(cli.app, ["benchmark", "spark"])
    assert result.exit_code == 1
    assert result.stderr == f"error: sales.csv: unknown column {SHOWN[0]} and {SHOWN[3]}\n"


def test_control_characters_in_what_status_reads_are_printed_as_escapes(capsys) -> None:
    import dataclasses
    from datetime import date

    from grocery import status

    found = status.Status(
        lake=f"file:///{HOSTILE[3]}", warehouse="DuckDB w", ingest_dates=[date(2018, 5, 9)],
        deliveries=[status.Delivery(date(2018, 5, 9), None, None, damaged=f"manifest {HOSTILE[0]}: bad")],
        raw_sales_last=None, fct_sales=None, spark_runs={}, segmented_customers=None,
        dashboard=None, working=f"grocery run --input {HOSTILE[2]}",
    )  # fmt: skip
    cli._print_status(found)
    printed = capsys.readouterr().out
    assert _raw_in(printed) == []
    assert f"lake       file:///{SHOWN[3]}" in printed.splitlines()
    assert f"working    grocery run --input {SHOWN[2]}" in printed.splitlines()
    cli._print_status(dataclasses.replace(found, working=None))  # the next steps name the damage
    printed = capsys.readouterr().out
    assert _raw_in(printed) == []
    assert (
        f"next: manifest {SHOWN[0]}: bad: run `grocery extract --date 2018-05-09` (or `--start A --end "
        "2018-05-09`, for a delivery of several days) again" in printed.splitlines()
    )
    cli._print_json(found.to_json())
    printed = capsys.readouterr().out
    assert _raw_in(printed) == []
    assert "\\u001b[31mRED" in printed and "\\u202eevil" in printed
    assert json.loads(printed)["lake"] == found.lake  # the same data, in JSON's own escapes


def _record_stage(ctx: object) -> object:
    from grocery.stages import StageResult

    return StageResult("ran", {})


def _fake_stages(monkeypatch) -> None:
    """Each registered stage replaced by one that does nothing, on an engine that needs nothing installed."""
    from dataclasses import replace

    from grocery import stages as registry

    fakes = {
        s.name: replace(s, entry="test_cli:_record_stage", preload=None, engine="python")
        for s in registry.STAGES
    }
    monkeypatch.setattr(registry, "BY_NAME", fakes)
    monkeypatch.setattr(registry, "STAGES", tuple(fakes.values()))


@pytest.mark.parametrize(
    ("stages", "rendered_after"),
    [
        ("extract,load,transform", "transform"),  # the Spark stages not run: after transform
        ("transform,segment,recommend,publish", "publish"),
        ("extract,load", None),  # no marts built: the page stays as it is
        ("segment,recommend", None),
    ],
)
def test_a_run_renders_the_dashboard_after_publish_or_else_after_transform(
    stages: str, rendered_after: str | None, monkeypatch, tmp_path
) -> None:
    from typer.testing import CliRunner

    _fake_stages(monkeypatch)
    page = tmp_path / "home" / "lake" / "dashboard" / "index.html"
    rendered: list[object] = []
    monkeypatch.setattr(cli, "_render_dashboard", lambda ctx, output=None: rendered.append(ctx) or str(page))
    monkeypatch.setattr(cli, "show_answers", lambda ctx: print("the answers"))
    args = ["run", "--stages", stages, "--home", str(tmp_path / "home"), "--quiet"]

    printed = CliRunner().invoke(cli.app, args)
    assert printed.exit_code == 0, printed.output
    lines = printed.stdout.splitlines()
    if rendered_after is None:
        assert rendered == [] and not any(line.startswith("dashboard:") for line in lines)
    else:
        assert len(rendered) == 1
        assert lines[-1] == f"dashboard: {page}"  # last, as a full run prints it
    as_json = CliRunner().invoke(cli.app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    results = json.loads(as_json.stdout)
    assert [name for name, result in results.items() if "dashboard" in result] == (
        [rendered_after] if rendered_after else []
    )
    # --no-dashboard: the stages alone (the benchmark measures them so).
    rendered.clear()
    without = CliRunner().invoke(cli.app, [*args, "--no-dashboard"])
    assert without.exit_code == 0, without.output
    assert rendered == [] and not any(line.startswith("dashboard:") for line in without.stdout.splitlines())


def test_a_transform_of_its_own_renders_no_dashboard_and_publish_does(monkeypatch, tmp_path) -> None:
    """`grocery transform` is a step of a longer run (an Airflow task): publish, its last, renders it."""
    from typer.testing import CliRunner

    _fake_stages(monkeypatch)
    rendered: list[object] = []
    monkeypatch.setattr(cli, "_render_dashboard", lambda ctx, output=None: rendered.append(ctx) or "page")
    home = str(tmp_path / "home")
    assert CliRunner().invoke(cli.app, ["transform", "--home", home, "--quiet"]).exit_code == 0
    assert rendered == []
    assert CliRunner().invoke(cli.app, ["publish", "--home", home, "--quiet"]).exit_code == 0
    assert len(rendered) == 1
