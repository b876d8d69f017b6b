"""The `grocery` command: thin wrappers over the library.

    grocery run                        every registered stage, in order
    grocery run --stages load,transform
    grocery extract|load|transform...  one stage (one command per registered stage)
    grocery generate OUT               write generated files without running anything
    grocery config                     print the effective pipeline spec
    grocery dashboard [--open|--serve] render the dashboard page from the marts (printed by `run` too)
    grocery crd [-o FILE]              print the GroceryPipeline CRD generated from the spec
    grocery purge --yes                delete the pipeline's lake and warehouse layers (names them without --yes)

Errors the pipeline expects (bad input, bad config, a failed dbt test, no credentials for Google
Cloud) print one line and exit 1; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable
from rich.text import Text

from grocery import stages as registry
from grocery.cloud import cloud_failure
from grocery.config import PipelineSpec, load_spec
from grocery.context import DEFAULT_HOME, Context, hold_home, working_in
from grocery.errors import (
    ConfigError,
    GroceryError,
    Interrupted,
    StageError,
    interrupt_behind,
    make_folder,
    stopped_by,
)
from grocery.interval import DataInterval
from grocery.progress import Progress, quiet_when_unread
from grocery.visible import visible, visible_json

if TYPE_CHECKING:
    from grocery.status import Delivery, Status

app = typer.Typer(
    name="grocery",
    help="Retail sales analytics pipeline: extract, load, transform, segment, recommend, publish.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Soft wrap: a path, a YAML document or an error line is printed whole, never folded at the
# terminal's width (tables still fit themselves to it). What `out` prints is plain text: paths and
# values from the data (a product named "Tea [organic]", a quarantined line holding "[/x]") are
# never read as rich markup. `err` has markup for its "error:", and escapes what it prints beside it.
# Whatever holds text from the data (a name, a quarantined line, a reason, a path) is printed
# through `visible` (`_say`, `_fmt`, `_print_json`): its control characters are shown as escapes.
out = Console(soft_wrap=True, markup=False)
err = Console(stderr=True, soft_wrap=True)


def _say(line: str) -> None:
    """Print one line to stdout as plain text, its control characters shown as escapes."""
    out.print(visible(line), highlight=False)


def _print_json(data: object) -> None:
    """Print data as JSON (highlighted on a terminal), its control characters in JSON escapes."""
    from rich.highlighter import JSONHighlighter

    text = JSONHighlighter()(visible_json(json.dumps(data, indent=2, ensure_ascii=False, default=str)))
    text.no_wrap, text.overflow = True, None  # as rich's print_json
    out.print(text)


def _show_version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        _say(f"grocery-pipeline {version('grocery-pipeline')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """The options before the command."""


def _date(value: str) -> date:
    """A date option's value, parsed by typer, so that its error names the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from None


Home = Annotated[
    Path,
    typer.Option(
        "--home",
        file_okay=False,
        help="Working folder: lake at HOME/lake, warehouse at HOME/warehouse.duckdb.",
    ),
]
CONFIG_OPTIONS = ("--config", "-c")
Config = Annotated[
    Path | None,
    typer.Option(*CONFIG_OPTIONS, help="Pipeline spec (grocery.yaml or a GroceryPipeline manifest)."),
]


def _date_option(name: str, help: str) -> typer.models.OptionInfo:
    """A date option: typer hands the command a `date`."""
    return typer.Option(name, parser=_date, metavar="YYYY-MM-DD", help=help)


Day = Annotated[date | None, _date_option("--date", "One day of data.")]
Start = Annotated[date | None, _date_option("--start", "First day of a range (with --end).")]
End = Annotated[date | None, _date_option("--end", "Last day of a range (with --start).")]
SourceKind = Annotated[str | None, typer.Option("--source", help="generator | kaggle | path.")]


def _an_input(value: Path | None) -> Path | None:
    """--input's check, run by typer, so that its error names the option: a folder, or a zip archive."""
    from grocery.sources.archive import is_archive

    if value is not None and value.is_file() and not is_archive(value):
        raise typer.BadParameter(f"{str(value)!r} is a file, and not a .zip archive: pass a folder or a .zip")
    return value


Input = Annotated[
    Path | None,
    typer.Option(
        "--input",
        callback=_an_input,
        help="Folder of the seven CSV files, or a .zip of them (implies --source path).",
    ),
]
Scale = Annotated[
    float | None, typer.Option("--scale", help="Generator size; 1 = the real dataset (6.76 M sales).")
]
Seed = Annotated[int | None, typer.Option("--seed", help="Generator seed.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print stage results as JSON.")]


def build_context(
    home: Path, config: Path | None, day: date | None, start: date | None, end: date | None,
    source: str | None, input_dir: Path | None, scale: float | None, seed: int | None, quiet: bool,
) -> Context:  # fmt: skip
    """Merge the spec file with the command's options; `--input` implies `--source path`."""
    if input_dir is not None and source is None:
        source = "path"
    if input_dir is not None and source != "path":  # it would be read by nothing
        raise ConfigError(
            f"--input reads a folder, and --source {source} reads none", hint="drop one of them"
        )
    spec = load_spec(config).with_overrides(
        **{
            "source.kind": source,
            "source.path": str(input_dir.resolve()) if input_dir else None,
            "source.scale": scale,
            "source.seed": seed,
        }
    )
    interval = DataInterval.from_options(day, start, end)
    progress = Progress.quiet() if quiet else Progress.to_terminal()
    return Context(spec=spec, home=home, interval=interval, progress=progress)


@contextlib.contextmanager
def _reported(debug: bool) -> Iterator[None]:
    """Errors for people: a GroceryError, or a failure of Google's clients that the user can fix
    (`grocery.cloud.cloud_failure`), ends the command with one line and the error's exit status;
    `--debug` shows the traceback instead. Anything else is a bug and keeps its traceback."""
    try:
        yield
    except Exception as exc:
        error = exc if isinstance(exc, GroceryError) else cloud_failure(exc)
        if error is None or debug:
            raise
        # A path may hold "[...]", a value from the data an ESC: neither reaches the terminal as such.
        err.print(f"[red]error:[/red] {escape(visible(str(error)))}", highlight=False)
        raise typer.Exit(error.exit_code) from None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised wherever the process is, as Ctrl-C raises KeyboardInterrupt: what libraries
    do about an interrupt (dbt ends its run, py4j drops its call to the JVM) they do for this too."""


# The interrupts `_raise_interrupt` raised in this run, whatever became of them.
_raised: list[KeyboardInterrupt] = []
# Whether a signal raises its interrupt where the process is (within `_interruptible`), rather than
# ending the process at once.
_armed = False


def _raise_interrupt(signum: int, frame: object) -> None:
    """The console script's handler of Ctrl-C and SIGTERM: within `_interruptible` (stages at work, a
    server), raise the interrupt where the process is, as Python does for Ctrl-C, and keep it. A
    library may swallow it (dbt reads its saved manifest through code that turns any exception into
    its own, then parses the project again), and the run still stops at the end of the stage
    (`run_stages`). Anywhere else the command ends at once, with the same line and exit status: it
    has nothing to wind down, and an interrupt raised there could land in typer, which made it a
    silent exit 130 or a traceback, or in the import of a native module, which aborts the process
    (duckdb's, at start)."""
    by = signal.Signals(signum)
    if not _armed:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        # A spinner may be on the terminal's last line, its cursor hidden: clear the line, show it.
        tty = "\r\x1b[2K\x1b[?25h" if sys.stderr.isatty() else ""
        with contextlib.suppress(OSError):  # a reader gone (`| head`) changes nothing to the exit
            os.write(2, f"{tty}error: {stopped_by(by)}\n".encode())
        os._exit(128 + by.value)
    interrupt = Terminated() if by == signal.SIGTERM else KeyboardInterrupt()
    _raised.append(interrupt)
    raise interrupt


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Where a signal raises its interrupt (`_raise_interrupt`): what runs within handles it."""
    global _armed
    import duckdb  # noqa: F401 - imported first: an interrupt raised in its import aborts the process

    previous, _armed = _armed, True
    try:
        yield
    finally:
        _armed = previous


def _interruption(exc: BaseException | None) -> signal.Signals | None:
    """The signal an exception comes from (`interrupt_behind`): SIGINT or SIGTERM; None for any other."""
    interrupt = interrupt_behind(exc)
    if interrupt is None:
        return None
    return signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT


def _wind_down_spark(interrupted: bool) -> None:
    """Before a failed or interrupted run ends the process: no Spark warm-up left running, and after
    an interrupt the session this run started stopped, quietly (`grocery.spark.session`)."""
    if "pyspark" not in sys.modules:
        return
    from grocery.spark.session import WIND_DOWN_SECONDS, claim_session, stop_quietly

    if interrupted:
        stop_quietly()
    else:
        with contextlib.suppress(Exception):  # the run's own error is the one to tell
            claim_session(timeout=WIND_DOWN_SECONDS)


# The stages after which a run renders the dashboard, in order of preference: `grocery publish`
# renders it as publish's last part; `grocery run` also after transform when publish is not run.
PUBLISHED = ("publish",)
MARTS_BUILT = ("publish", "transform")


def run_stages(
    ctx: Context, names: list[str] | None, as_json: bool = False, dashboard_after: tuple[str, ...] = PUBLISHED
) -> dict[str, dict]:
    """Run stages in registry order, reporting each; then render the dashboard when one of
    `dashboard_after` ran, its path in the result of the first of them that ran. Returns the results."""
    results: dict[str, dict] = {}
    _raised.clear()
    selected = registry.select(names)
    with _interruptible(), hold_home(ctx.home):  # one command at a time in a home
        try:
            ctx.remove_leftovers()  # of a command killed before it could clean up after itself
            _run_in_order(ctx, selected, results, dashboard_after)
        except BaseException as exc:
            # Also an error in place of an interrupt a library swallowed: the user stopped the run.
            by = _interruption(exc) or (_interruption(_raised[-1]) if _raised else None)
            _wind_down_spark(interrupted=by is not None)
            if by is None:
                raise
            running = next((s.name for s in selected if s.name not in results), selected[-1].name)
            raise Interrupted(running, by) from None
        finally:
            ctx.close()
    if as_json:
        _print_json(results)
    return results


def _run_in_order(
    ctx: Context, selected: list[registry.Stage], results: dict[str, dict], dashboard_after: tuple[str, ...]
) -> None:
    """Each stage in turn, its result put in `results` as it ends; then the dashboard."""
    registry.check_ready(selected, ctx.spec.warehouse.kind)
    background = registry.preload(ctx, selected)
    for stage in selected:
        ctx.progress.info(Text.assemble((stage.name, "bold"), f": {stage.summary}"))
        started = time.perf_counter()  # a wait for the stage's preload counts as its time
        if background is not None:
            background.wait(stage.name)  # the stage's own work must not run beside its preload
        result = stage.run(ctx)
        if _raised:  # an interrupt the stage swallowed: the run stops here all the same
            raise _raised[-1]
        seconds = time.perf_counter() - started
        # The stage's wall time, its preload's wait included, whatever its metrics hold.
        results[stage.name] = {"summary": result.summary, **result.metrics, "seconds": round(seconds, 2)}
        ctx.progress.info(Text.assemble(f"  {visible(result.summary)} ", (f"({seconds:.1f}s)", "dim")))
    after = next((name for name in dashboard_after if name in results), None)
    if after is not None:
        # Rendered from the marts the run has just built, so that the page shows them.
        results[after]["dashboard"] = _render_dashboard(ctx)
        ctx.progress.info(f"  dashboard: {visible(results[after]['dashboard'])}")


@app.command()
def run(
    stages: Annotated[str | None, typer.Option("--stages", help="Comma-separated stages to run (default: all).")] = None,
    home: Home = DEFAULT_HOME, config: Config = None, day: Day = None, start: Start = None, end: End = None,
    source: SourceKind = None, input_dir: Input = None, scale: Scale = None, seed: Seed = None,
    debug: Debug = False, quiet: Quiet = False, as_json: AsJson = False,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Do not render the dashboard.")] = False,
) -> None:  # fmt: skip
    """Run the pipeline: every registered stage in order, then show the top answers."""
    with _reported(debug):
        names = registry.parse_names(stages)
        ctx = build_context(home, config, day, start, end, source, input_dir, scale, seed, quiet)
        # The page is rendered after publish, or after transform when publish is not run: a run that
        # builds no marts (extract,load; segment,recommend) leaves it as it is, the marts' page still.
        results = run_stages(ctx, names, as_json, dashboard_after=() if no_dashboard else MARTS_BUILT)
        dashboard = next((results[name].get("dashboard") for name in MARTS_BUILT if name in results), None)
        if not as_json and (names is None or "transform" in names):
            show_answers(ctx)
        if dashboard and not as_json:
            _say(f"dashboard: {dashboard}")


def _require_home(ctx: Context, *, lake: bool = False, warehouse: bool = False) -> None:
    """Before a command that reads what runs left in a home: when what it reads (the lake, the
    warehouse) is in a home that does not exist, one line says so, and nothing is made (the home's
    lock, the lake's folder and a DuckDB file are each made by their first use)."""
    in_home = (lake and ctx.spec.lake is None) or (
        warehouse and ctx.spec.warehouse.kind == "duckdb" and ctx.spec.warehouse.path is None
    )
    if in_home and not ctx.home.exists():
        raise StageError(
            f"no home at {ctx.home}", hint="run `grocery run` (or `grocery extract`) with this --home first"
        )


def _render_dashboard(ctx: Context, output: Path | None = None) -> str:
    """Render the dashboard from the marts; returns where it was written."""
    from grocery import dashboard

    try:
        return dashboard.render(ctx, output)
    finally:
        ctx.close()


@app.command("dashboard")
def show_dashboard(
    home: Home = DEFAULT_HOME, config: Config = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the page here (default: the lake's dashboard/index.html).")] = None,
    open_page: Annotated[bool, typer.Option("--open", help="Open the page in the web browser.")] = False,
    serve_page: Annotated[bool, typer.Option("--serve", help="Serve the page on 127.0.0.1 until Ctrl+C.")] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port for --serve (0: any free port).")] = 8050,
    debug: Debug = False,
) -> None:  # fmt: skip
    """Render the dashboard: one self-contained HTML page from the marts (DuckDB or BigQuery)."""
    with _reported(debug):
        ctx = Context(spec=load_spec(config), home=home)
        _require_home(ctx, warehouse=True)
        if output is None and (open_page or serve_page) and not ctx.lake.is_local:
            output = home / "dashboard" / "index.html"  # a browser needs a local copy of a GCS page
        with hold_home(
            ctx.home
        ):  # not beside a run: it reads the warehouse, and writes the page a run writes
            where = _render_dashboard(ctx, output)
    _say(f"dashboard: {where}")
    if open_page:
        import webbrowser

        webbrowser.open(Path(where).resolve().as_uri())
    if serve_page:
        from grocery.dashboard.serve import serve

        with _reported(debug), _interruptible():  # Ctrl+C stops the server, and the command ends
            serve(Path(where), port, announce=_say)


def _stage_command(stage: registry.Stage) -> None:
    def command(
        home: Home = DEFAULT_HOME, config: Config = None, day: Day = None, start: Start = None, end: End = None,
        source: SourceKind = None, input_dir: Input = None, scale: Scale = None, seed: Seed = None,
        debug: Debug = False, quiet: Quiet = False, as_json: AsJson = False,
    ) -> None:  # fmt: skip
        with _reported(debug):
            ctx = build_context(home, config, day, start, end, source, input_dir, scale, seed, quiet)
            results = run_stages(ctx, [stage.name], as_json)
            if not as_json and quiet:
                _say(results[stage.name]["summary"])

    command.__doc__ = stage.summary
    app.command(name=stage.name)(command)


for _stage in registry.STAGES:
    _stage_command(_stage)


@app.command()
def generate(
    output: Annotated[Path, typer.Argument(file_okay=False, help="Folder to write the seven CSV files into.")],
    scale: Annotated[float, typer.Option(help="1 = the real dataset's size.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Same seed, same files.")] = 42,
    day: Day = None, start: Start = None, end: End = None, debug: Debug = False,
) -> None:  # fmt: skip
    """Write generated files with the Kaggle dataset's shape (one day's sales with --date)."""
    from grocery.sources.generator import generate as write

    with _reported(debug):
        # The source spec's rules for these two (a scale above 0), as for `grocery run --scale`.
        source = PipelineSpec().with_overrides(**{"source.scale": scale, "source.seed": seed}).source
        interval = DataInterval.from_options(day, start, end)
        make_folder(output, "the output folder", hint="pass a folder you can write to")
        started = time.perf_counter()
        write(output, scale=source.scale, seed=source.seed, interval=interval)
        _say(f"wrote 7 files to {output} in {time.perf_counter() - started:.1f}s")


benchmark_app = typer.Typer(help="Benchmarks: figures as ratios against a baseline measured in the same run.")
app.add_typer(benchmark_app, name="benchmark")
Repeat = Annotated[
    int,
    typer.Option(min=1, help="Measure this many times; the median ratios are judged (the machine is noisy)."),
]


@benchmark_app.command("elt")
def benchmark_elt(
    scale: Annotated[float, typer.Option(help="Dataset size; 1 = the real 6.76 M sales.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    workdir: Annotated[Path, typer.Option(help="Where data and runs go (data is reused).")] = Path(".bench"),
    repeat: Repeat = 1,
) -> None:
    """extract + load + transform against DuckDB's own CSV load, peak memory, one more day."""
    from grocery.benchmarks import elt

    runs = [elt.measure(workdir.resolve(), scale, seed) for _ in range(repeat)]
    out.print(elt.report(*runs), highlight=False)


@benchmark_app.command("spark")
def benchmark_spark(
    scale: Annotated[float, typer.Option(help="Dataset size; 1 = the real 6.76 M sales.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 42,
    workdir: Annotated[Path, typer.Option(help="Where data and runs go (data is reused).")] = Path(".bench"),
    input_dir: Annotated[
        Path | None,
        typer.Option("--input", file_okay=False, help="Use these seven CSV files instead of generating."),
    ] = None,
    repeat: Repeat = 1,
) -> None:
    """segment + recommend (Spark) against the C++ implicit library's ALS fit + top-N, peak memory, precision."""
    from grocery.benchmarks import spark

    with _reported(False):
        spark.require_baseline()
    source = input_dir.resolve() if input_dir else None
    runs = [spark.measure(workdir.resolve(), scale, seed, source) for _ in range(repeat)]
    out.print(spark.report(*runs), highlight=False)


@app.command("config")
def show_config(config: Config = None, debug: Debug = False) -> None:
    """Print the effective pipeline spec (defaults merged with grocery.yaml) as YAML."""
    with _reported(debug):
        spec = load_spec(config)
    out.print(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True), sort_keys=False), highlight=False)


@app.command("status")
def show_status(
    home: Home = DEFAULT_HOME, config: Config = None, debug: Debug = False, as_json: AsJson = False
) -> None:
    """What the home holds: deliveries landed and loaded, days without one, the fact, Spark runs, the dashboard."""
    from grocery import status

    with _reported(debug):
        ctx = Context(spec=load_spec(config), home=home)
        # A run can be watched from another terminal: with a command working in the home, the status
        # reads what it can beside it. Otherwise it holds the home while it reads, so that no run
        # starts and finds the warehouse open. A home that does not exist is not made.
        working = working_in(ctx.home)
        with hold_home(ctx.home) if working is None and ctx.home.is_dir() else contextlib.nullcontext():
            try:
                found = status.collect(ctx, working=working)
            finally:
                ctx.close()
    if as_json:
        _print_json(found.to_json())
        return
    _print_status(found)


def _print_status(found: Status) -> None:
    if found.working:
        _say(f"working    {found.working}")
    _say(f"lake       {found.lake}")
    _say(f"warehouse  {found.warehouse}")
    if found.warehouse_unreadable:
        _say(f"           not read while that command works: {found.warehouse_unreadable}")
    landed = found.ingest_dates
    if landed:
        span = f", {landed[0]} .. {landed[-1]}" if len(landed) > 1 else f", {landed[0]}"
        _say(f"deliveries {len(landed):,} ingest date{'s' if len(landed) != 1 else ''}{span}")
        rows = [
            {
                "ingest_date": d.ingest_date,
                "files": "damaged" if d.damaged else d.files,
                "sales_lines": d.sales_lines,
                "loaded": _loaded_cell(found, d),
                "accepted": d.accepted,
                "quarantined": d.quarantined,
            }
            for d in found.deliveries
        ]
        shown = "" if len(found.deliveries) == len(landed) else f" (the latest {len(found.deliveries)})"
        table = _rich_table(f"Deliveries{shown}", rows, money=set())
        caption = "accepted, quarantined: rows of all seven tables"
        if any(d.superseded for d in found.deliveries):
            caption += "; loaded earlier: the rows are of an earlier landing of the date"
        table.caption, table.caption_justify = caption, "left"
        out.print(table)
    else:
        _say("deliveries none")
    if found.fct_sales is not None:
        f = found.fct_sales
        span = f", sales dates {f['first']} .. {f['last']}" if f["rows"] else ""
        _say(f"fct_sales  {f['rows']:,} rows{span}")
    runs = ", ".join(f"{stage} {day or 'never run'}" for stage, day in found.spark_runs.items())
    _say(f"spark      {runs}")
    if found.segmented_customers is not None:
        _say(f"segments   {found.segmented_customers:,} customers published")
    _say(f"dashboard  {found.dashboard or 'not rendered yet'}")
    for step in found.next_steps():
        _say(f"next: {step}")


def _loaded_cell(found: Status, delivery: Delivery) -> str:
    """Whether a delivery is loaded: `earlier` when the warehouse holds an earlier landing of its date."""
    if found.warehouse_unreadable:
        return "?"
    if delivery.superseded:
        return "earlier"
    return "yes" if delivery.loaded else "no"


@app.command("quarantine")
def show_quarantine(
    home: Home = DEFAULT_HOME, config: Config = None, day: Day = None,
    table: Annotated[str | None, typer.Option("--table", help="One table only (e.g. sales).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Records shown per table.")] = 20,
    debug: Debug = False, as_json: AsJson = False,
) -> None:  # fmt: skip
    """The rows load quarantined for an ingest date (default: the latest), with their reasons and lines."""
    from grocery import quarantined
    from grocery.tables import BY_NAME

    with _reported(debug):
        if table is not None and table not in BY_NAME:
            raise ConfigError(f"no table {table!r}", hint=f"--table is one of {', '.join(BY_NAME)}")
        ctx = build_context(home, config, day, None, None, None, None, None, None, quiet=True)
        _require_home(ctx, lake=True, warehouse=True)
        # As `grocery status`: a home that does not exist (the data is elsewhere) is not made.
        with hold_home(ctx.home) if ctx.home.is_dir() else contextlib.nullcontext():
            try:
                ingest = ctx.ingest_date()  # --date, else the latest delivery
                if not (ctx.warehouse.created() and ingest in ctx.warehouse.rows_by_ingest_date()):
                    raise StageError(
                        f"ingest_date={ingest} has not been loaded",
                        hint=f"run `grocery load --date {ingest}` first",
                    )
                found = quarantined.read(ctx.warehouse, ingest, [BY_NAME[table]] if table else None, limit)
            finally:
                ctx.close()
    if as_json:
        _print_json(asdict(found))
        return
    where = f"ingest_date={found.ingest_date}" + (f", {table}" if table else "")
    if not found.total:
        _say(f"no quarantined rows for {where}")
        return
    per_table = ", ".join(f"{name} {n:,}" for name, n in found.totals.items())
    _say(f"{found.total:,} quarantined rows for {where} ({per_table})")
    for name, by_rule in found.counts.items():
        for rule, n in by_rule.items():
            _say(f"  {name:<10} {n:>9,}  {rule}")
    rows = [
        # A line number as it is, without a thousands separator.
        {"table": r.table, "line": str(r.line_number or ""), "reason": r.reason, "as delivered": r.text}
        for r in found.records
    ]
    out.print(_rich_table(f"The first {limit} of each table, by line", rows, money=set()))


@app.command("purge")
def purge_data(
    yes: Annotated[bool, typer.Option("--yes", help="Really delete; without it purge only names what would go.")] = False,
    home: Home = DEFAULT_HOME, config: Config = None, debug: Debug = False, quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Delete the pipeline's data: everything under its lake root and its warehouse layers (asks for --yes)."""
    from grocery import purge

    with _reported(debug):
        ctx = build_context(home, config, None, None, None, None, None, None, None, quiet)
        # A command working in the home stops this one before it looks; a home that does not exist
        # is not made (nor its lock) to find nothing in it, as `grocery status` makes none.
        hold = yes and (ctx.home.is_dir() or bool(purge.plan(ctx)))
        with hold_home(ctx.home) if hold else contextlib.nullcontext():
            targets = purge.plan(ctx)
            if not targets:
                if as_json:
                    _print_json(
                        {"deleted": [], "absent": [f"the lake {ctx.lake_uri}", ctx.warehouse.describe()]}
                    )
                else:
                    _say(purge.nothing_there(ctx))
                return
            if not yes:
                raise ConfigError(
                    f"purge would delete {' and '.join(targets)}; nothing was deleted",
                    hint="add --yes to delete them",
                )
            report = purge.purge(ctx)
    if as_json:
        _print_json({"deleted": report.deleted, "absent": report.absent})
        return
    for what in report.deleted:
        _say(f"deleted {what}")
    for what in report.absent:
        _say(f"already gone: {what}")


@app.command("crd")
def show_crd(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the GroceryPipeline CustomResourceDefinition, generated from the pipeline spec."""
    from grocery.operator.crd import render_crd

    text = render_crd()
    if output is None:
        typer.echo(text, nl=False)
    else:
        with _reported(debug=False):
            make_folder(output.parent, "the output's folder", hint="pass an --output path you can write to")
        output.write_text(text)


@app.command("deploy")
def deploy_release(
    env: Annotated[str, typer.Option("--env", help="Environment: dev (prod belongs to Argo CD).")],
    image_tag: Annotated[str | None, typer.Option("--image-tag", help="Tag of every project image.")] = None,
    values: Annotated[list[Path] | None, typer.Option("--values", "-f", help="Extra values file.")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="key.path=value (repeatable).")] = None,
    chart: Annotated[Path | None, typer.Option("--chart", help="Chart folder (default: charts/...).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the rendered manifests.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the release is ready.")] = True,
    timeout: Annotated[str, typer.Option("--timeout", help="Helm timeout, e.g. 10m.")] = "10m",
    kube_context: Annotated[str | None, typer.Option("--kube-context", help="kubeconfig context.")] = None,
    debug: Debug = False,
) -> None:
    """Install or upgrade the Helm release (helm upgrade --install --atomic); --dry-run only renders."""
    from grocery import deploy

    with _reported(debug):
        p = deploy.plan(env, image_tag=image_tag, values_files=values or (), sets=sets or (), chart=chart)
        if dry_run:
            typer.echo(deploy.render(p), nl=False)
            return
        result = deploy.upgrade(p, wait=wait, timeout=timeout, kubecontext=kube_context)
    for line in result["crds"]:
        err.print(line, highlight=False, markup=False)
    err.print(
        f"release {result['release']} in {result['namespace']}: revision {result['revision']}, {result['status']}",
        highlight=False,
    )


def _rich_table(title: str, rows: list[dict], money: set[str]) -> RichTable:
    table = RichTable(title=title, title_justify="left", title_style="bold")
    if not rows:
        table.add_column("(no rows)")
        return table
    for name in rows[0]:
        value = next((row[name] for row in rows if row[name] is not None), None)  # the column's kind
        numeric = isinstance(value, int | float) and not name.endswith("_id")
        table.add_column(name.replace("_", " "), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*(_fmt(v, k in money) for k, v in row.items()))
    return table


def _fmt(value: object, money: bool) -> str:
    if value is None:
        return ""
    if money and isinstance(value, int | float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return visible(str(value))


def show_answers(ctx: Context) -> None:
    """Print the top answers from the marts as terminal tables."""
    from grocery.answers import top_answers

    for title, rows in top_answers(ctx.warehouse).items():
        out.print(_rich_table(title, rows, money={"net_revenue", "revenue", "total_spent"}))
    ctx.close()


def main() -> None:
    """The console script.

    A run leaves millions of objects behind (dbt's manifest and modules, pyspark's), and the
    interpreter's last garbage collection at exit walks them all: 0.6 s of a one-day run's 11 s.
    Nothing needs it by then (files and connections are closed, exit handlers still run), so
    `gc.freeze` takes them out of its sight. Registered first, it runs after the other exit handlers.
    """
    atexit.register(gc.freeze)
    quiet_when_unread()  # `grocery run 2>&1 | head`: the run goes on once head has gone
    handle_signals()
    app()


def handle_signals() -> None:
    """Ctrl-C and SIGTERM stop the command as `_raise_interrupt` says: `grocery`'s, and a Spark
    app's (`grocery.spark.submit`). A stage pod's `grocery` is the container's PID 1, which ignores
    a SIGTERM it has no handler for: without this, a deleted pod would run on until its grace period
    ends in a SIGKILL."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where Ctrl-C is ignored
        signal.signal(signal.SIGINT, _raise_interrupt)


if __name__ == "__main__":
    main()
