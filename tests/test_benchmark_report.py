"""The ELT benchmark's report: ratios against the floor, verdicts against the targets, where time went."""

from __future__ import annotations

from grocery.benchmarks.elt import EltFigures, report
from grocery.benchmarks.spark import SparkFigures
from grocery.benchmarks.spark import report as spark_report


def figures(**changes: object) -> EltFigures:
    values: dict = dict(
        floor_seconds=6.0, pipeline_seconds=24.0,
        stage_seconds={"extract": 3.0, "load": 9.0, "transform": 11.0},
        peak_rss_bytes=3 << 29, next_day_seconds=1.2,
        next_day_stage_seconds={"extract": 0.1, "load": 0.3, "transform": 0.7}, sales_rows=6_758_125,
        load_steps={"categories": 0.01, "sales": 7.5, "warehouse": 1.4},
        dbt_slowest={"fct_sales": 4.2, "unique_fct_sales_sales_id": 1.1},
        next_day_dbt_nodes=101, next_day_dbt_slowest={"int_customer_purchases": 1.2},
        small_history_day_seconds=0.9,
    )  # fmt: skip
    return EltFigures(**{**values, **changes})


def test_the_report_gives_ratios_verdicts_and_where_the_time_went() -> None:
    lines = report(figures()).splitlines()
    assert "6,758,125" in lines[0]
    assert any("4.00  (target <= 3: MISSES target)" in line for line in lines)
    assert any("1.50 GiB  (target <= 2: meets target)" in line for line in lines)
    assert any("0.050  (target <= 0.1: meets target)" in line for line in lines)
    # The day's extract (0.1 s) and load (0.3 s) alone, against the 24 s run.
    assert any("its extract + load alone     0.017  (of the full run" in line for line in lines)
    load_line = next(line for line in lines if "load steps" in line)
    assert "sales 7.5s, warehouse 1.4s" in load_line and "categories" not in load_line  # under 0.1 s left out
    assert any(
        "slowest dbt nodes            fct_sales 4.2s, unique_fct_sales_sales_id 1.1s" in line
        for line in lines
    )
    assert any(
        "its dbt build                101 models and tests; slowest int_customer_purchases 1.2s" in line
        for line in lines
    )
    assert any(
        "on a 1% history              0.9s  (the same day: the full history adds 0.3s)" in line
        for line in lines
    )


def test_a_pipeline_within_three_floors_meets_the_target() -> None:
    assert "(target <= 3: meets target)" in report(figures(pipeline_seconds=18.0))


def test_several_runs_are_judged_by_their_median_ratios_and_show_their_spread() -> None:
    runs = [
        figures(pipeline_seconds=s, next_day_seconds=d) for s, d in ((30.0, 1.5), (16.0, 4.0), (17.0, 3.0))
    ]
    lines = report(*runs).splitlines()
    assert lines[0].endswith("(3 runs)")
    # 17 s / 6 s is the median ratio: that run's figures are shown, and the median meets the target.
    assert any(line.startswith("pipeline: extract,load,transform 17.0s") for line in lines)
    assert any(
        "pipeline / floor               2.83 (median of 5.00, 2.67, 2.83)  (target <= 3: meets target)"
        in line
        for line in lines
    )
    # The day ratios' median (0.176) comes from another run than the full run's median.
    assert any(
        "0.176 (median of 0.050, 0.250, 0.176)  (target <= 0.1: MISSES target)" in line for line in lines
    )


def test_the_peak_memory_of_several_runs_is_the_highest() -> None:
    lines = report(figures(), figures(peak_rss_bytes=5 << 29)).splitlines()
    assert "peak memory (highest run)      2.50 GiB  (target <= 2: MISSES target)" in lines


def spark_figures(ours: float, bulk_top_n: float = 7.0) -> SparkFigures:
    return SparkFigures(
        ours_seconds=ours, stage_seconds={"segment": ours / 2, "recommend": ours / 2},
        step_seconds={"segment": {"score": 1.0}}, peak_rss_tree_bytes=3 << 30,
        implicit_fit_seconds=4.0, implicit_top_n_seconds=6.0, bulk_top_n_seconds=bulk_top_n,
        pairs=2_395_608, customers=97_301,
        precision={"als": 0.082, "popularity": 0.05},
    )  # fmt: skip


def test_the_spark_report_judges_the_median_ratio_and_the_precision_lift() -> None:
    lines = spark_report(spark_figures(50.0), spark_figures(20.0), spark_figures(24.0)).splitlines()
    assert any(line.startswith("ours: segment + recommend      24.0s") for line in lines)
    assert any("2.40 (median of 5.00, 2.00, 2.40)  (target <= 2.5: meets target)" in line for line in lines)
    assert any("3.00 GiB  (target <= 6: meets target)" in line for line in lines)
    assert any("= 1.64  (target >= 1.5: meets target)" in line for line in lines)


def test_the_spark_baseline_takes_the_faster_of_implicits_top_n_and_the_same_top_n_in_bulk() -> None:
    # implicit's own filter loops over the customers in Python; a slow loop must not make us pass.
    lines = spark_report(spark_figures(24.0, bulk_top_n=1.0)).splitlines()
    assert any("5.0s  (fit 4.0s, top-N 6.0s with implicit's filter, 1.0s in bulk" in line for line in lines)
    assert any("4.80  (target <= 2.5: MISSES target)" in line for line in lines)
