"""Benchmark of extract + load + transform at full scale against DuckDB's floor.

    grocery benchmark elt [--scale 1] [--workdir .bench]

1. Generates the dataset once into WORKDIR/data (cached by scale, seed and the generator's code; not timed).
2. Floor: DuckDB creating a table straight from the same sales.csv, in a fresh database file.
3. Pipeline: `grocery run --stages extract,load,transform` over those files, in a fresh home,
   with the peak resident memory of the whole process tree.
4. One more day of sales on top of the full history: the same three stages for 2018-05-10. Its
   extract and load alone are shown against the full run too: landing, checking and loading a day.
5. The same day's delivery on top of a history of 1% of the size (a run of the same three stages over
   a generated scale of scale / 100 before it, not timed): what a day costs whatever the history.

Targets: pipeline / floor <= 3; peak memory <= 2 GiB; one more day <= 0.1 of the full run.
`--repeat N` does steps 2-5 N times, each in a fresh home; the medians of the ratios are judged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import statistics
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from grocery.benchmarks import (
    Measured,
    format_seconds,
    grocery_command,
    median_run,
    run_measured,
    spread,
    verdict,
)

STAGES = "extract,load,transform"
NEXT_DAY = date(2018, 5, 10)
SMALL_HISTORY = 0.01  # the size of step 5's history, as a share of the full one
GIB = 1 << 30
DATASET_STAMP = ".complete"  # in a generated folder once it is whole: the generator that wrote it


@dataclass(frozen=True)
class EltFigures:
    floor_seconds: float
    pipeline_seconds: float
    stage_seconds: dict[str, float]
    peak_rss_bytes: int
    next_day_seconds: float
    next_day_stage_seconds: dict[str, float]
    sales_rows: int
    load_steps: dict[str, float]  # seconds per table checked and for the warehouse load (full run)
    dbt_slowest: dict[str, float]  # the slowest dbt models and tests (full run)
    next_day_dbt_nodes: int  # models and tests the one-more-day transform built and ran
    next_day_dbt_slowest: dict[str, float]  # its slowest models and tests
    small_history_day_seconds: float  # the same day on top of a history of SMALL_HISTORY the size

    @property
    def ratio(self) -> float:
        return self.pipeline_seconds / self.floor_seconds

    @property
    def history_seconds(self) -> float:
        """What the full history adds to a day's run, against a history of 1% of its size."""
        return self.next_day_seconds - self.small_history_day_seconds

    @property
    def next_day_ratio(self) -> float:
        return self.next_day_seconds / self.pipeline_seconds

    @property
    def next_day_load_ratio(self) -> float:
        """The day's extract and load stages alone (landing, checks, warehouse load), against the full run."""
        landed = sum(self.next_day_stage_seconds.get(stage, 0.0) for stage in ("extract", "load"))
        return landed / self.pipeline_seconds


_FLOOR = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
started = time.perf_counter()
con.execute("create table sales as select * from read_csv(?)", [sys.argv[2]])
print(time.perf_counter() - started)
"""


def generator_digest() -> str:
    """A digest of the code that writes generated files (the generator, and the tables' columns and
    formats it writes): cached files that other code wrote are stale."""
    from grocery import interval, tables
    from grocery.sources import generator

    digest = hashlib.sha256()
    for module in (generator, tables, interval):
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _dataset(workdir: Path, scale: float, seed: int, interval: list[str]) -> Path:
    """Generated files, reused when an earlier run made the same ones with the same generator.
    `DATASET_STAMP` in the folder names that generator (`generator_digest`)."""
    tag = f"scale={scale}-seed={seed}" + ("-" + "-".join(interval) if interval else "")
    folder = workdir / "data" / tag
    stamp, digest = folder / DATASET_STAMP, generator_digest()
    if not stamp.exists() or stamp.read_text() != digest:
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {tag} (not timed)...", file=sys.stderr)
        run_measured(
            grocery_command("generate", str(folder), "--scale", str(scale), "--seed", str(seed), *interval)
        )
        stamp.write_text(digest)
    return folder


def _stage_seconds(stdout: str) -> dict[str, float]:
    return {name: result["seconds"] for name, result in json.loads(stdout).items()}


def measure(workdir: Path, scale: float = 1.0, seed: int = 42) -> EltFigures:
    source = _dataset(workdir, scale, seed, [])
    next_day = _dataset(workdir, scale, seed, ["--date", NEXT_DAY.isoformat()])
    runs = workdir / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)

    floor = run_measured(
        [sys.executable, "-c", _FLOOR, str(runs / "floor.duckdb"), str(source / "sales.csv")]
    )
    home = runs / "home"
    full = run_elt(home, source)
    day = run_elt(home, next_day, NEXT_DAY)
    small_home = runs / "small-history"
    run_elt(small_home, _dataset(workdir, scale * SMALL_HISTORY, seed, []))
    small_day = run_elt(small_home, next_day, NEXT_DAY)
    results = json.loads(full.stdout)
    day_transform = json.loads(day.stdout)["transform"]
    return EltFigures(
        floor_seconds=float(floor.stdout.strip().splitlines()[-1]),
        pipeline_seconds=full.seconds,
        stage_seconds=_stage_seconds(full.stdout),
        peak_rss_bytes=full.peak_rss_bytes,
        next_day_seconds=day.seconds,
        next_day_stage_seconds=_stage_seconds(day.stdout),
        sales_rows=results["load"]["tables"]["sales"]["rows_in"],
        load_steps=results["load"]["step_seconds"],
        dbt_slowest=results["transform"]["slowest"],
        next_day_dbt_nodes=day_transform["models"] + day_transform["tests"],
        next_day_dbt_slowest=day_transform["slowest"],
        small_history_day_seconds=small_day.seconds,
    )


def run_elt(home: Path, source: Path, day: date | None = None) -> Measured:
    """`grocery run` of the three stages over a folder of files, for one day or for everything."""
    interval = ["--date", day.isoformat()] if day else []
    return run_measured(
        grocery_command(
            "run", "--stages", STAGES, "--home", str(home), "--input", str(source), *interval, "--json", "--quiet",
            "--no-dashboard",  # the stages' work alone: the page is publish's
        )
    )  # fmt: skip


def report(*runs: EltFigures) -> str:
    """The figures of the run with the median pipeline / floor ratio; ratios and verdicts of all runs."""
    f = median_run(runs, key=lambda r: r.ratio)
    ratio = statistics.median(r.ratio for r in runs)
    next_day_ratio = statistics.median(r.next_day_ratio for r in runs)
    peak = max(r.peak_rss_bytes for r in runs)
    highest = " (highest run)" if len(runs) > 1 else ""
    stages, day_stages = format_seconds(f.stage_seconds), format_seconds(f.next_day_stage_seconds)
    load_steps = format_seconds({k: v for k, v in f.load_steps.items() if v >= 0.1})
    return "\n".join(
        [
            f"sales rows                     {f.sales_rows:,}"
            + (f"  ({len(runs)} runs)" if len(runs) > 1 else ""),
            f"floor: duckdb table from CSV   {f.floor_seconds:.1f}s",
            f"pipeline: {STAGES:<20} {f.pipeline_seconds:.1f}s  ({stages}; process start included)",
            f"  load steps                   {load_steps}",
            f"  slowest dbt nodes            {format_seconds(f.dbt_slowest)}",
            f"pipeline / floor               {spread([r.ratio for r in runs])}  (target <= 3: {verdict(ratio <= 3)})",
            f"peak memory{highest:<19} {peak / GIB:.2f} GiB  (target <= 2: {verdict(peak <= 2 * GIB)})",
            f"one more day on top            {f.next_day_seconds:.1f}s  ({day_stages})",
            f"  its dbt build                {f.next_day_dbt_nodes} models and tests; slowest "
            f"{format_seconds(f.next_day_dbt_slowest)}",
            f"  on a {SMALL_HISTORY:.0%} history              {f.small_history_day_seconds:.1f}s  "
            f"(the same day: the full history adds {f.history_seconds:.1f}s)",
            f"one more day / full run        {spread([r.next_day_ratio for r in runs], 3)}  "
            f"(target <= 0.1: {verdict(next_day_ratio <= 0.1)})",
            f"  its extract + load alone     {spread([r.next_day_load_ratio for r in runs], 3)}  "
            "(of the full run; the rest is process start and the transform)",
        ]
    )
