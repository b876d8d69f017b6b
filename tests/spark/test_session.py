"""The local session's settings: loopback only, sized to the machine, this interpreter for workers."""

from __future__ import annotations

import sys

from grocery.spark.session import LOOPBACK, driver_memory_mb, local_conf


def test_driver_memory_is_a_quarter_of_the_available_memory_between_1_and_3_gib():
    assert driver_memory_mb(2_000) == 1024
    assert driver_memory_mb(8_000) == 2000
    assert driver_memory_mb(64_000) == 3072


def test_local_conf_binds_loopback_and_sizes_partitions_to_the_cores():
    conf = local_conf(cores=3, memory_mb=1500)
    assert conf["spark.master"] == "local[3]"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == LOOPBACK
    assert conf["spark.driver.memory"] == "1500m"
    assert conf["spark.sql.shuffle.partitions"] == "6"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.executorEnv.OPENBLAS_NUM_THREADS"] == "1"


def test_the_test_session_runs_python_workers_with_this_interpreter(spark):
    import os

    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    assert spark.conf.get("spark.driver.bindAddress") == LOOPBACK
    # A Python UDF round trip works (the workers import the same packages).
    assert spark.range(3).rdd.map(lambda r: r.id * 2).collect() == [0, 2, 4]


def test_spark_app_arguments_parse_the_lake_and_run_date():
    from datetime import date

    from grocery.spark.submit import parse_args

    args = parse_args("segment", ["--lake", "gs://bucket/lake", "--run-date", "2018-05-09"])
    assert (args.lake, args.run_date, args.config) == ("gs://bucket/lake", date(2018, 5, 9), None)
