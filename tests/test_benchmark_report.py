"""The ELT benchmark's report: ratios against the floor, verdicts against the targets, where time went."""

from __future__ import annotations

from grocery.benchmarks.elt import EltFigures, report


def figures(**changes: object) -> EltFigures:
    values: dict = dict(
        floor_seconds=6.0, pipeline_seconds=24.0,
        stage_seconds={"extract": 3.0, "load": 9.0, "transform": 11.0},
        peak_rss_bytes=3 << 29, next_day_seconds=1.2,
        next_day_stage_seconds={"extract": 0.1, "load": 0.3, "transform": 0.7}, sales_rows=6_758_125,
        load_steps={"categories": 0.01, "sales": 7.5, "warehouse": 1.4},
        dbt_slowest={"fct_sales": 4.2, "unique_fct_sales_sales_id": 1.1},
    )  # fmt: skip
    return EltFigures(**{**values, **changes})


def test_the_report_gives_ratios_verdicts_and_where_the_time_went() -> None:
    lines = report(figures()).splitlines()
    assert "6,758,125" in lines[0]
    assert any("4.00  (target <= 3: MISSES target)" in line for line in lines)
    assert any("1.50 GiB  (target <= 2: meets target)" in line for line in lines)
    assert any("0.050  (target <= 0.1: meets target)" in line for line in lines)
    load_line = next(line for line in lines if "load steps" in line)
    assert "sales 7.5s, warehouse 1.4s" in load_line and "categories" not in load_line  # under 0.1 s left out
    assert any(
        "slowest dbt nodes            fct_sales 4.2s, unique_fct_sales_sales_id 1.1s" in line
        for line in lines
    )


def test_a_pipeline_within_three_floors_meets_the_target() -> None:
    assert "(target <= 3: meets target)" in report(figures(pipeline_seconds=18.0))
