"""The local session's settings: loopback only, sized to the machine, this interpreter for workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest

from grocery.spark.session import (
    LOG_CONFIG,
    LOOPBACK,
    ClassArchive,
    driver_memory_mb,
    installation_files,
    local_conf,
)


def test_driver_memory_is_a_quarter_of_the_available_memory_between_1_and_3_gib():
    assert driver_memory_mb(2_000) == 1024
    assert driver_memory_mb(8_000) == 2000
    assert driver_memory_mb(64_000) == 3072


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


def test_a_container_s_memory_limit_bounds_the_available_memory(tmp_path):
    from grocery.spark.session import available_memory_mb

    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 65536000 kB\nMemAvailable: 52428800 kB\n")  # 50 GiB free on the node
    v2 = _cgroup(tmp_path / "v2", {"memory.max": str(6 << 30), "memory.current": str(1 << 30)})
    assert available_memory_mb(meminfo, v2) == 5 << 10
    v1 = _cgroup(tmp_path / "v1", {"memory/memory.limit_in_bytes": str(6 << 30),
                                   "memory/memory.usage_in_bytes": str(2 << 30)})  # fmt: skip
    assert available_memory_mb(meminfo, v1) == 4 << 10
    unlimited_v2 = _cgroup(tmp_path / "v2-max", {"memory.max": "max", "memory.current": str(1 << 30)})
    unlimited_v1 = _cgroup(tmp_path / "v1-max", {"memory/memory.limit_in_bytes": "9223372036854771712",
                                                 "memory/memory.usage_in_bytes": str(1 << 30)})  # fmt: skip
    for unlimited in (unlimited_v2, unlimited_v1, tmp_path / "none"):
        assert available_memory_mb(meminfo, unlimited) == 50 << 10
    assert available_memory_mb(tmp_path / "no-meminfo", v2) == 5 << 10
    assert available_memory_mb(tmp_path / "no-meminfo", tmp_path / "none") == 4096


def test_a_local_session_takes_the_cores_a_container_or_its_pod_gives_it(tmp_path):
    from grocery.errors import ConfigError
    from grocery.spark.session import CORES_ENV, local_cores

    machine = len(os.sched_getaffinity(0))
    none = tmp_path / "none"
    assert local_cores({}, none) == machine
    one_and_a_half = _cgroup(tmp_path / "v2", {"cpu.max": "150000 100000"})
    assert local_cores({}, one_and_a_half) == min(machine, 2)
    assert local_cores({}, _cgroup(tmp_path / "v2-max", {"cpu.max": "max 100000"})) == machine
    v1 = _cgroup(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "100000", "cpu/cpu.cfs_period_us": "100000"})
    assert local_cores({}, v1) == 1
    no_quota_v1 = _cgroup(
        tmp_path / "v1-none", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}
    )
    assert local_cores({}, no_quota_v1) == machine
    assert local_cores({CORES_ENV: "3"}, one_and_a_half) == 3  # a stage pod's CPU request, set by Kubernetes
    for wrong in ("0", "two", "1.5"):
        with pytest.raises(ConfigError, match=f"GROCERY_SPARK_CORES='{wrong}' is not a number of cores"):
            local_cores({CORES_ENV: wrong}, none)


def test_local_conf_binds_loopback_and_sizes_partitions_to_the_cores():
    conf = local_conf(cores=3, memory_mb=1500)
    assert conf["spark.master"] == "local[3]"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == LOOPBACK
    assert conf["spark.driver.memory"] == "1500m"
    assert conf["spark.sql.shuffle.partitions"] == conf["spark.default.parallelism"] == "3"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.executorEnv.OPENBLAS_NUM_THREADS"] == "1"
    assert "-XX:+UseParallelGC" in conf["spark.driver.extraJavaOptions"]
    assert "-XX:SharedArchiveFile" not in conf["spark.driver.extraJavaOptions"]  # no archive given
    assert f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}" in conf["spark.driver.extraJavaOptions"]
    assert LOG_CONFIG.is_file()


def test_a_local_session_says_nothing_as_it_starts():
    # In a process of its own: the JVM writes straight to the terminal's stderr as it starts.
    started = subprocess.run(
        [
            sys.executable,
            "-c",
            "from grocery.spark.session import get_session; get_session().range(3).count()",
        ],
        env={**os.environ, "GROCERY_SPARK_CDS": "off"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert started.returncode == 0, started.stderr
    # Not of its logging ("log4j profile", "Setting default log level", ...), nor of the vector
    # module that Spark's launcher always adds: nothing at all.
    assert started.stderr == ""


def _start_session(env: dict[str, str]) -> list[str]:
    """Start a local session in a process of its own; the lines it printed, in order, on stdout and
    stderr (the JVM's own), the GroceryError's line last."""
    code = (
        "from grocery.errors import GroceryError\n"
        "from grocery.spark.session import get_session\n"
        "try:\n    get_session()\nexcept GroceryError as exc:\n    print(f'{exc} ({exc.hint})')\n"
    )
    started = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=300)  # fmt: skip
    assert started.returncode == 0, started.stdout
    return started.stdout.strip().splitlines()


def test_java_is_the_one_in_java_home_else_the_one_on_path(tmp_path, monkeypatch):
    from grocery.spark.session import java_binary

    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk / "bin" / "java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    assert java_binary() == (jdk / "bin" / "java").resolve()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    assert java_binary() is None
    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(jdk / "bin"))
    assert java_binary() == (jdk / "bin" / "java").resolve()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert java_binary() is None


def test_a_java_older_than_spark_runs_on_is_refused_by_its_release_file(tmp_path, monkeypatch):
    from grocery.errors import ConfigError
    from grocery.spark.session import java_version, require_java

    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    (jdk / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")  # never run: the version is read, not asked
    (jdk / "bin" / "java").chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(jdk))
    java = jdk / "bin" / "java"
    assert java_version(java) is None and require_java() == java.resolve()  # no release file: not known
    for release, major in (('JAVA_VERSION="1.8.0_402"', 8), ('JAVA_VERSION="11.0.22"', 11)):
        (jdk / "release").write_text(f'IMPLEMENTOR="Eclipse Adoptium"\n{release}\n')
        assert java_version(java) == major
        with pytest.raises(
            ConfigError, match=f"Spark needs Java 17 or later, and the java in JAVA_HOME .* is Java {major}"
        ):
            require_java()
    for release, major in (('JAVA_VERSION="17.0.15"', 17), ('JAVA_VERSION="25"', 25)):
        (jdk / "release").write_text(f"{release}\n")
        assert java_version(java) == major and require_java() == java.resolve()


def test_a_session_without_java_or_whose_java_fails_says_so_in_one_line(tmp_path):
    (said,) = _start_session({"JAVA_HOME": str(tmp_path / "no-jdk")})
    assert said.startswith(f"Spark needs Java 17, and there is no java in JAVA_HOME ({tmp_path / 'no-jdk'})")
    assert "install Java 17" in said
    broken = tmp_path / "broken-jdk"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "java").write_text("#!/bin/sh\necho 'Error: not a JVM' >&2\nexit 1\n")
    (broken / "bin" / "java").chmod(0o755)
    *jvm_said, said = _start_session({"JAVA_HOME": str(broken), "GROCERY_SPARK_CDS": "off"})
    assert said.startswith(f"Spark's JVM exited as it started ({broken / 'bin' / 'java'})")
    assert "Error: not a JVM" in jvm_said  # what the JVM said comes first: "see its error above"


def test_the_class_archive_is_recorded_by_the_first_jvm_and_mapped_by_the_next(tmp_path):
    archive = ClassArchive(tmp_path / "cds" / "spark.jsa")
    stale = archive.path.with_name(f"{archive.path.name}.999999999.tmp")  # of a process gone
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"partial")
    first = local_conf(cores=2, memory_mb=1024, archive=archive)["spark.driver.extraJavaOptions"]
    assert f"-XX:ArchiveClassesAtExit={archive.pending}" in first
    assert not stale.exists()
    archive.pending.write_bytes(b"classes")  # what the JVM writes at its exit
    archive.publish()
    assert archive.ready and not archive.pending.exists()
    second = local_conf(cores=2, memory_mb=1024, archive=archive)["spark.driver.extraJavaOptions"]
    assert f"-XX:SharedArchiveFile={archive.path}" in second
    assert "ArchiveClassesAtExit" not in second


def test_an_archive_belongs_to_one_pyspark_and_java(tmp_path):
    archive = ClassArchive.for_installation(tmp_path)
    assert archive.path.parent == tmp_path and archive.path.name.startswith("spark-")
    assert ClassArchive.for_installation(tmp_path) == archive
    assert ClassArchive.for_installation(Path("/proc/no-such-folder")) is None  # not writable: no archive


def test_an_installation_is_known_by_the_size_and_time_of_every_file_the_jvm_checks(tmp_path):
    jars, runtime = tmp_path / "pyspark" / "jars", tmp_path / "jdk"
    for path in (
        jars / "spark-core.jar",
        jars / "scala-library.jar",
        runtime / "bin" / "java",
        runtime / "lib" / "modules",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    java = runtime / "bin" / "java"
    before = installation_files(jars, java)
    assert [path.name for path, _ in before] == ["scala-library.jar", "spark-core.jar", "java", "modules"]
    assert installation_files(jars, java) == before
    os.utime(jars / "spark-core.jar", ns=(0, 0))  # reinstalled: the same path, another time
    assert installation_files(jars, java) != before
    before = installation_files(jars, java)
    (runtime / "lib" / "modules").write_bytes(b"xy")  # another Java in the same place
    assert installation_files(jars, java) != before


def test_publishing_an_archive_deletes_those_of_the_installations_it_replaced(tmp_path):
    archive = ClassArchive(tmp_path / "spark-4.3.0-place-new.jsa")
    replaced = tmp_path / "spark-4.3.0-place-old.jsa"
    elsewhere = tmp_path / "spark-4.3.0-other-old.jsa"  # another virtualenv's: still valid there
    for path in (replaced, elsewhere):
        path.write_bytes(b"classes")
    archive.publish()  # the JVM wrote nothing (it crashed, say): nothing changes
    assert replaced.exists() and elsewhere.exists()
    archive.pending.write_bytes(b"classes")
    archive.publish()
    assert archive.ready and not replaced.exists() and elsewhere.exists()


def test_the_test_session_runs_python_workers_with_this_interpreter(spark):
    import os

    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    assert spark.conf.get("spark.driver.bindAddress") == LOOPBACK
    # A Python UDF round trip works (the workers import the same packages).
    assert spark.range(3).rdd.map(lambda r: r.id * 2).collect() == [0, 2, 4]


def test_a_session_started_in_the_background_is_the_process_session(spark):
    from grocery.spark.session import get_session, start_session

    started = start_session("grocery-tests").result(timeout=60)
    assert started.sparkContext is spark.sparkContext
    assert get_session().sparkContext is spark.sparkContext


def test_a_gs_lake_without_the_cloud_storage_connector_is_one_line_saying_what_to_do(spark):
    from grocery.errors import StageError
    from grocery.spark.session import require_gcs_connector

    # Every session is set to read gs:// through Google's connector, which pip's pyspark lacks.
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    assert hadoop.get("fs.gs.impl") == "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"
    assert hadoop.get("fs.gs.auth.type") == "APPLICATION_DEFAULT"
    require_gcs_connector(spark, "file:///tmp/lake")  # a local lake needs no connector
    with pytest.raises(StageError) as caught:
        require_gcs_connector(spark, "gs://bucket/lake")
    assert (
        caught.value.message
        == "this Spark cannot read the lake gs://bucket/lake: it has no Cloud Storage connector"
    )
    assert "images/spark" in caught.value.hint and "gcs-connector" in caught.value.hint
    # With a class that Spark has in the place of the connector's, the check passes.
    hadoop.set("fs.gs.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
    try:
        require_gcs_connector(spark, "gs://bucket/lake")
    finally:
        hadoop.set("fs.gs.impl", "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem")


def test_a_spark_job_on_a_gs_lake_stops_before_its_first_spark_job(spark):
    from grocery.config import RfmSpec
    from grocery.errors import StageError
    from grocery.spark.jobs import segment_job

    with pytest.raises(StageError, match="no Cloud Storage connector"):
        segment_job(spark, "gs://bucket/lake", date(2018, 5, 10), RfmSpec())


def test_a_session_stopped_by_an_interruption_is_not_handed_out_again():
    # In a process of its own, as the stop ends its session: the next start makes a new one, on the
    # same JVM, instead of handing out the stopped one (whose every call would fail).
    code = (
        "from grocery.spark.session import start_session, stop_quietly\n"
        "first = start_session('grocery-tests').result(timeout=120)\n"
        "stop_quietly()\n"
        "second = start_session('grocery-tests').result(timeout=120)\n"
        "assert second is not first\n"
        "print(second.range(4).count())\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], env={**os.environ, "GROCERY_SPARK_CDS": "off"},
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["4"]


def test_the_jvm_stderr_is_passed_on_but_its_noise_and_all_after_an_interruption(tmp_path, monkeypatch):
    from grocery.spark import session

    monkeypatch.setattr(session, "_hushed", threading.Event())
    read_end, write_end = os.pipe()
    out = tmp_path / "stderr"
    passing = threading.Thread(
        target=session._pass_on, args=(read_end, os.open(out, os.O_WRONLY | os.O_CREAT))
    )
    passing.start()
    os.write(write_end, session.JVM_NOISE + b"\nERROR Executor: a real error\n")
    deadline = time.monotonic() + 10  # the thread passes the lines on as they come
    while not out.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    session._hushed.set()
    os.write(write_end, b"BrokenPipeError: [Errno 32] Broken pipe\n")
    os.close(write_end)
    passing.join(timeout=10)
    assert not passing.is_alive()
    assert out.read_bytes() == b"ERROR Executor: a real error\n"


def test_a_spark_app_hands_the_pipeline_of_its_environment_to_the_stage_command(tmp_path):
    from grocery.airflow.manifests import spark_application
    from grocery.config import NamedPipeline, load_spec
    from grocery.spark.submit import stage_arguments
    from grocery.stages import select

    spec = NamedPipeline(name="p").spec.with_overrides(**{"models.als.top_n": 3})
    app = spark_application(NamedPipeline(name="p", spec=spec), *select(["recommend"]))
    environ = {env["name"]: env["value"] for env in app["spec"]["driver"]["env"]}

    args = stage_arguments("recommend", app["spec"]["arguments"], environ, tmp_path)
    assert args[:-1] == ["recommend", *app["spec"]["arguments"], "--config"]
    assert load_spec(Path(args[-1])) == spec
    # A file named on the command line wins; without either, the command finds its spec as `grocery` does.
    named = ["--date", "2018-05-09", "--config", "mine.yaml"]
    assert stage_arguments("recommend", named, environ, tmp_path) == ["recommend", *named]
    assert stage_arguments("segment", ["--date", "2018-05-09"], {}, tmp_path) == [
        "segment",
        "--date",
        "2018-05-09",
    ]


def test_a_spark_app_leaves_no_folder_behind(tmp_path, monkeypatch):
    # Each driver of a cluster run wrote the handed-over spec into a folder of its own and kept it.
    import tempfile

    from grocery.airflow.commands import PIPELINE_ENV
    from grocery.config import NamedPipeline
    from grocery.spark.submit import main

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(PIPELINE_ENV, NamedPipeline(name="p").to_yaml())
    for argv in (["--help"], ["--date", "not-a-date"]):
        with pytest.raises(SystemExit):
            main("segment", argv)
    assert list(tmp_path.iterdir()) == []


def test_only_a_running_spark_submit_makes_the_session_not_local(monkeypatch):
    from grocery.spark.session import launched_by_spark_submit

    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    # A shell set up for Spark: `grocery` still makes its own local session.
    monkeypatch.setenv("SPARK_SUBMIT_OPTS", "-Dlog4j.debug=true")
    monkeypatch.setenv("SPARK_ENV_LOADED", "1")
    assert not launched_by_spark_submit()
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")  # what spark-submit gives its Python application
    assert launched_by_spark_submit()


def test_a_stage_claiming_the_session_cancels_a_running_warm_up_and_skips_the_next(spark):
    import threading
    import time

    from grocery.spark.session import WARM_UP_GROUP, claim_session, warm_up_work

    tracker = spark.sparkContext.statusTracker()
    group = WARM_UP_GROUP.format(job="recommend")
    before = set(tracker.getJobIdsForGroup(group))
    failed: list[BaseException] = []

    def run(work) -> None:
        try:
            work()
        except Exception as exc:  # what Preloads swallows: the cancelled warm-up's error
            failed.append(exc)

    warming = threading.Thread(target=run, args=(warm_up_work("recommend"),))
    warming.start()
    deadline = time.monotonic() + 60
    while not set(tracker.getJobIdsForGroup(group)) - before:  # a warm-up job has started
        assert time.monotonic() < deadline and warming.is_alive(), "the warm-up never started a Spark job"
        time.sleep(0.02)

    claim_session()  # returns once the warm-up has let go of Spark
    warming.join(timeout=10)
    assert not warming.is_alive()
    assert failed, "the warm-up ran to its end beside the stage"
    started = set(tracker.getJobIdsForGroup(group)) - before
    assert all(tracker.getJobInfo(i).status != "RUNNING" for i in started)

    # Later in the same run, the segment warm-up is skipped: it starts no Spark job.
    skipped_work = warm_up_work("segment")  # as a new run would set it up: unclaimed again
    claim_session()
    segment_group = WARM_UP_GROUP.format(job="segment")
    jobs_before = set(tracker.getJobIdsForGroup(segment_group))
    skipped_work()
    assert set(tracker.getJobIdsForGroup(segment_group)) == jobs_before


_CLAIM_AT_EVERY_JOB = """
import contextlib, threading, time
from grocery.spark.session import WARM_UP_GROUP, claim_session, start_session, warm_up_work

def warm_up(work):
    with contextlib.suppress(Exception):  # the cancelled warm-up's error, as Preloads swallows it
        work()

tracker = start_session().result().sparkContext.statusTracker()
group = WARM_UP_GROUP.format(job="recommend")
before = set(tracker.getJobIdsForGroup(group))
warm_up_work("recommend")()
jobs = len(set(tracker.getJobIdsForGroup(group)) - before)
for n in range(1, jobs + 1):
    before = set(tracker.getJobIdsForGroup(group))
    warming = threading.Thread(target=warm_up, args=(warm_up_work("recommend"),))
    warming.start()
    while len(set(tracker.getJobIdsForGroup(group)) - before) < n and warming.is_alive():
        time.sleep(0.002)
    claim_session()
    warming.join()
print(jobs)
"""


def test_a_warm_up_cancelled_at_any_of_its_jobs_says_nothing():
    # A stage claims the session while the warm-up's tasks write files or cache blocks: Spark logged
    # `ERROR FileFormatWriter: Aborting job` or `Block rdd_13_0 does not exist` on the terminal.
    claimed = subprocess.run([sys.executable, "-c", _CLAIM_AT_EVERY_JOB], env={**os.environ, "GROCERY_SPARK_CDS": "off"},
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert claimed.returncode == 0, claimed.stderr
    assert int(claimed.stdout) >= 5  # each of the warm-up's Spark jobs was cancelled once
    assert claimed.stderr == ""


def test_py4j_traceback_of_a_ctrl_c_is_dropped_and_nothing_else() -> None:
    # py4j logs a traceback on the root logger when a Ctrl-C cuts a call to the JVM short; the CLI
    # says in one line that the run was interrupted.
    import logging
    import os

    import py4j.java_gateway

    from grocery import cli
    from grocery.spark.session import _NoInterruptTraceback

    def record(path: str, exc: BaseException | None) -> logging.LogRecord:
        info = (type(exc), exc, None) if exc else None
        return logging.LogRecord("root", logging.ERROR, path, 1, "while sending command", None, info)

    in_py4j = py4j.java_gateway.__file__
    assert f"{os.sep}py4j{os.sep}" in in_py4j
    keep = _NoInterruptTraceback().filter
    assert not keep(record(in_py4j, KeyboardInterrupt()))
    assert not keep(record(in_py4j, cli.Terminated()))  # the CLI's SIGTERM
    assert keep(record(in_py4j, ConnectionError("the JVM is gone")))
    assert keep(record(__file__, KeyboardInterrupt()))
