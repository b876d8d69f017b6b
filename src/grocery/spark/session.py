"""The SparkSession of the Spark stages.

On a cluster (`spark-submit`, the Spark operator, Livy) the session is built from the submitter's
settings, plus those the jobs rely on wherever they run (`job_conf`) where the submitter set none. In
local mode (`grocery segment`, `grocery recommend`, tests) it is built here, once per
process: the stages of one `grocery run` share it, and it stops with the process (the driver JVM
stops its context when the Python side exits). Local mode is:
- loopback only: the driver binds and advertises 127.0.0.1 (`SPARK_LOCAL_IP` too), no UI;
- sized to the machine: `local[*]`, driver memory a quarter of the available RAM, between 1 and
  3 GiB (the stages hold aggregated pairs, not the raw sales), one shuffle partition per core (the
  data is small: more partitions only add tasks), Arrow batches of up to a million rows (the ALS
  tasks take a whole partition at once);
- quick to start: the stages start the JVM in the background while they export the fact
  (`start_session`), or a run of several stages starts it as the run starts and warms it up
  while the stages before run (`warm_up_work`; a stage's own job stops it, `claim_session`); the
  driver uses the parallel garbage collector (G1's concurrent threads cost more than they save on
  a few cores and a small heap); and Class Data Sharing (`ClassArchive`)
  maps Spark's classes from an archive that the first session on the machine records at its exit,
  instead of loading and verifying thousands of classes from the jars at every start (about half
  of the JVM's start). `GROCERY_SPARK_CDS=off` turns the archive off;
- Python workers run this interpreter (`PYSPARK_PYTHON = sys.executable`), so code in a
  `mapInArrow` sees the same packages as the driver, and each uses one BLAS thread (Spark already
  runs one task per core);
- quiet: only errors are logged (`log4j2.properties` beside this module), and the JVM says nothing
  as it starts: not of its logging, nor the warning every Spark 4 driver JVM prints of the vector
  module (`JVM_NOISE`, left out of the JVM's stderr by `_launch_jvm`).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grocery.errors import ConfigError, StageError

if TYPE_CHECKING:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

LOOPBACK = "127.0.0.1"
MIN_JAVA = 17  # Spark 4's oldest Java
MIN_DRIVER_MEMORY_MB = 1024
MAX_DRIVER_MEMORY_MB = 3072
ARROW_BATCH_ROWS = 1_000_000
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")  # errors only, and no start-up chatter
DRIVER_JAVA_OPTIONS = (f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}", "-XX:+UseParallelGC")
CDS_SWITCH = "GROCERY_SPARK_CDS"
WIND_DOWN_SECONDS = 10  # how long a failed or interrupted run waits for its warm-up to end
CORES_ENV = "GROCERY_SPARK_CORES"  # the cores of a local session, when the machine's are not all its own
CGROUP = Path("/sys/fs/cgroup")  # a container's limits (cgroup v2, or v1's controllers below it)
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_QUIET_CDS = ("-Xshare:auto", "-Xlog:cds=off", "-Xlog:cds+dynamic=off")
# What every driver JVM prints as it starts, as Spark's launcher always adds the incubating vector
# module (`JavaModuleOptions`), and no JVM option silences: a local session leaves it out.
JVM_NOISE = b"WARNING: Using incubator modules: jdk.incubator.vector"
# Google's Cloud Storage connector for Hadoop: the Spark image puts its jar in Spark's jars
# (images/spark/Dockerfile); pip's pyspark has none, so a laptop's Spark reads file:// lakes only.
GCS_CONNECTOR = "the shaded jar of com.google.cloud.bigdataoss:gcs-connector"


@dataclass(frozen=True)
class ClassArchive:
    """A Class Data Sharing archive of the driver JVM's classes, one per Java and pyspark installation.

    When the file exists the JVM maps it; otherwise the JVM records the classes it loaded into a
    file of its own (`pending`) when it exits, and `publish` moves that into place. A JVM that
    cannot use an archive (another Java, another class path) ignores it and starts as usual: as
    slowly as with none, and it records no new one. So the file is named after what the JVM checks
    (`installation_files`): a reinstalled pyspark or Java gets an archive of its own, and
    publishing it deletes the archives of the installation it replaced.
    """

    path: Path

    @classmethod
    def for_installation(cls, cache_dir: Path | None = None) -> ClassArchive | None:
        """The archive of this pyspark and Java in the user's cache; None when that cannot be written."""
        import pyspark

        java = java_binary() or Path("java")
        jars = Path(pyspark.__file__).parent / "jars"
        place = [pyspark.__version__, str(jars), os.environ.get("JAVA_HOME", ""), str(java)]
        try:
            cache = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grocery"
            cache.mkdir(parents=True, exist_ok=True)
        except (OSError, RuntimeError):  # RuntimeError: no home directory
            return None
        if not os.access(cache, os.W_OK):
            return None
        files = [f"{path}:{stamp}" for path, stamp in installation_files(jars, java)]
        name = f"spark-{pyspark.__version__}-{_digest(place)}-{_digest(files)}.jsa"
        return cls(cache / name)

    @property
    def pending(self) -> Path:
        return self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")

    @property
    def ready(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def java_options(self) -> list[str]:
        if self.ready:
            return [f"-XX:SharedArchiveFile={self.path}", *_QUIET_CDS]
        for leftover in self.path.parent.glob(f"{self.path.name}.*.tmp"):  # of processes gone
            pid = leftover.suffixes[-2].lstrip(".")
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                leftover.unlink(missing_ok=True)
        return [f"-XX:ArchiveClassesAtExit={self.pending}", *_QUIET_CDS]

    def publish(self) -> None:
        """Move the archive a JVM of this process wrote at its exit into place, and delete the
        archives of the same place's earlier installations (no JVM would map them again)."""
        if self.pending.is_file() and self.pending.stat().st_size > 0:
            os.replace(self.pending, self.path)
            place = self.path.name.rsplit("-", 1)[0]
            for earlier in self.path.parent.glob(f"{place}-*.jsa"):
                if earlier != self.path:
                    earlier.unlink(missing_ok=True)
        self.pending.unlink(missing_ok=True)


def installation_files(jars: Path, java: Path) -> list[tuple[Path, str]]:
    """What a JVM checks before it maps a class archive, each file with its size and modification
    time: the jars of the class path, and the Java runtime (its binary and its module image). A
    reinstall leaves the paths as they were and changes the times."""
    files = [*sorted(jars.glob("*.jar")), java, java.parent.parent / "lib" / "modules"]
    stamped = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            stamped.append((path, "missing"))
        else:
            stamped.append((path, f"{stat.st_size}:{stat.st_mtime_ns}"))
    return stamped


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def _read_ints(*paths: Path) -> list[int] | None:
    """The first number of each file; None when one is missing, unreadable or not a number ("max")."""
    try:
        return [int(path.read_text().split()[0]) for path in paths]
    except (OSError, ValueError, IndexError):
        return None


def container_memory_free_mb(cgroup: Path = CGROUP) -> int | None:
    """What the process's memory limit (a container's) leaves, in MiB: cgroup v2, else v1; None without a limit."""
    used_of_limit = _read_ints(cgroup / "memory.max", cgroup / "memory.current") or _read_ints(
        cgroup / "memory" / "memory.limit_in_bytes", cgroup / "memory" / "memory.usage_in_bytes"
    )
    if used_of_limit is None or used_of_limit[0] >= 1 << 60:  # v1 writes a huge number for "no limit"
        return None
    limit, used = used_of_limit
    return max(0, limit - used) >> 20


def available_memory_mb(meminfo: Path = Path("/proc/meminfo"), cgroup: Path = CGROUP) -> int:
    """Memory the machine can still give (MemAvailable), or what a container's limit leaves if less,
    in MiB; 4 GiB when neither can be read."""
    machine = None
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                machine = int(line.split()[1]) // 1024
    except OSError:
        pass
    known = [mb for mb in (machine, container_memory_free_mb(cgroup)) if mb is not None]
    return min(known) if known else 4096


def driver_memory_mb(available_mb: int | None = None) -> int:
    """A quarter of the available memory, clamped to [1 GiB, 3 GiB]."""
    available = available_memory_mb() if available_mb is None else available_mb
    return max(MIN_DRIVER_MEMORY_MB, min(MAX_DRIVER_MEMORY_MB, available // 4))


def container_cpu_limit(cgroup: Path = CGROUP) -> int | None:
    """The CPUs of a container's quota, rounded up: cgroup v2 `cpu.max`, else v1; None without a quota."""
    try:  # v2: "<quota> <period>", or "max <period>" for none
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        quota_period = [int(quota), int(period)] if quota != "max" else None
    except (OSError, ValueError):
        quota_period = _read_ints(cgroup / "cpu" / "cpu.cfs_quota_us", cgroup / "cpu" / "cpu.cfs_period_us")
    if quota_period is None or quota_period[0] <= 0:  # v1 writes -1 for none
        return None
    quota, period = quota_period
    return -(-quota // period)


def local_cores(environ: Mapping[str, str] = os.environ, cgroup: Path = CGROUP) -> int:
    """The cores a local session uses: $GROCERY_SPARK_CORES when set (a stage pod sets its CPU request
    there), else the machine's, as far as this process may run on them (CPU affinity) and a
    container's quota allows."""
    if environ.get(CORES_ENV):
        value = environ[CORES_ENV].strip()
        if not value.isdigit() or int(value) < 1:
            raise ConfigError(
                f"{CORES_ENV}={value!r} is not a number of cores", hint="set it to 1 or more, or unset it"
            )
        return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = container_cpu_limit(cgroup)
    return max(1, min(cores, limit) if limit else cores)


def job_conf() -> dict[str, str]:
    """The settings the jobs rely on in every session, local or submitted."""
    return {
        "spark.sql.session.timeZone": "UTC",
        # An overwrite replaces the whole output folder, not only the partitions written this time.
        "spark.sql.sources.partitionOverwriteMode": "static",
        # The session's catalog holds only tables over lake files (the bucketed export); its own
        # folder would otherwise be made as ./spark-warehouse wherever the driver runs, and a driver
        # in a folder it cannot write (the Spark image's /app) could not declare them.
        "spark.sql.warehouse.dir": str(
            Path(tempfile.gettempdir()) / f"grocery-spark-warehouse-{os.getuid()}"
        ),
        # A gs:// lake, through the connector, as the pod's service account (Workload Identity) or
        # the key file GOOGLE_APPLICATION_CREDENTIALS names: Application Default Credentials.
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        "spark.hadoop.fs.gs.auth.type": "APPLICATION_DEFAULT",
    }


def require_gcs_connector(spark: SparkSession, lake_uri: str) -> None:
    """Stop with one line saying what to do when the lake is gs:// and this Spark has no connector
    for it (Hadoop's own error is a ClassNotFoundException deep in the first job)."""
    if not lake_uri.startswith("gs://"):
        return
    from py4j.protocol import Py4JJavaError

    context = spark.sparkContext
    try:
        context._jvm.org.apache.hadoop.fs.FileSystem.getFileSystemClass(
            "gs", context._jsc.hadoopConfiguration()
        )
    except Py4JJavaError:
        raise StageError(
            f"this Spark cannot read the lake {lake_uri}: it has no Cloud Storage connector",
            hint=f"run the Spark stages in the Spark image (images/spark), or put {GCS_CONNECTOR} in $SPARK_HOME/jars",
        ) from None


def submitted_conf() -> dict[str, str]:
    """The settings spark-submit gave this application (its JVM holds them), before a context exists."""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()  # joins spark-submit's JVM, as the context would
    return dict(SparkConf().getAll())


def local_conf(cores: int | None = None, memory_mb: int | None = None,
               archive: ClassArchive | None = None) -> dict[str, str]:  # fmt: skip
    """The settings of a local-mode session."""
    cores = cores or local_cores()
    partitions = str(cores)
    conf = {
        "spark.master": f"local[{cores}]",
        "spark.driver.memory": f"{memory_mb or driver_memory_mb()}m",
        "spark.driver.host": LOOPBACK,
        "spark.driver.bindAddress": LOOPBACK,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": partitions,
        "spark.default.parallelism": partitions,
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        **job_conf(),
        "spark.python.worker.reuse": "true",
        # The raw local filesystem: no .crc checksum files beside the Parquet files in a local lake.
        "spark.hadoop.fs.file.impl": "org.apache.hadoop.fs.RawLocalFileSystem",
        "spark.driver.extraJavaOptions": " ".join(
            [*DRIVER_JAVA_OPTIONS, *(archive.java_options() if archive else [])]
        ),
    }
    for name in _THREAD_VARS:
        conf[f"spark.executorEnv.{name}"] = "1"
    return conf


class _NoInterruptTraceback(logging.Filter):
    """Drops py4j's traceback of a Ctrl-C (or the CLI's SIGTERM, raised as one) that came while it
    waited for the JVM (it logs one on the root logger before the interrupt goes on): the CLI says in
    one line that the run was interrupted."""

    def filter(self, record: logging.LogRecord) -> bool:
        interrupt = record.exc_info is not None and issubclass(record.exc_info[0], KeyboardInterrupt)
        return not (interrupt and f"{os.sep}py4j{os.sep}" in record.pathname)


def _quiet_py4j() -> None:
    """py4j's own log lines repeat what its calls raise; a local session's user sees the exceptions."""
    logging.getLogger("py4j").propagate = False  # py4j gives its logger a NullHandler of its own
    root = logging.getLogger()
    if not any(isinstance(f, _NoInterruptTraceback) for f in root.filters):
        root.addFilter(_NoInterruptTraceback())


def _prepare_environment() -> None:
    _quiet_py4j()
    os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def java_binary() -> Path | None:
    """The java Spark's launcher runs (its real path): $JAVA_HOME/bin/java when JAVA_HOME is set, else
    the one on PATH; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(os.path.realpath(found)) if found and os.access(found, os.X_OK) else None


def java_version(java: Path) -> int | None:
    """The major version of a java binary, from its runtime's `release` file (no JVM started); None
    when the runtime has no such file."""
    release = java.parent.parent / "release"
    try:
        text = release.read_text(errors="replace")
    except OSError:
        return None
    found = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.M)
    if found is None:
        return None
    major = int(found[1])
    return int(found[2] or 0) if major == 1 else major  # 1.8 is Java 8


def require_java() -> Path:
    """The java a local session's JVM runs (`java_binary`); a ConfigError when there is none, or when
    its runtime says it is older than Spark runs on."""
    java = java_binary()
    where = f"in JAVA_HOME ({os.environ['JAVA_HOME']})" if os.environ.get("JAVA_HOME") else "on PATH"
    hint = f"install Java {MIN_JAVA}, e.g. openjdk-{MIN_JAVA}-jre-headless, and put java on PATH or set JAVA_HOME to it"
    if java is None:
        raise ConfigError(f"Spark needs Java {MIN_JAVA}, and there is no java {where}", hint=hint)
    version = java_version(java)
    if version is not None and version < MIN_JAVA:
        raise ConfigError(
            f"Spark needs Java {MIN_JAVA} or later, and the java {where} is Java {version}", hint=hint
        )
    return java


def launched_by_spark_submit() -> bool:
    """Whether this Python process is an application spark-submit started: its JVM is then running,
    and tells its port in PYSPARK_GATEWAY_PORT (how pyspark itself finds it). The variables of a
    shell set up for Spark (SPARK_SUBMIT_OPTS, SPARK_ENV_LOADED) do not say so: `grocery` run from
    such a shell still makes its own local session."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_session(app_name: str = "grocery", local: bool | None = None, cores: int | None = None,
                memory_mb: int | None = None) -> SparkSession:  # fmt: skip
    """The process's session, else a new one; `local=None` means local unless spark-submit made a context."""
    from pyspark import SparkContext
    from pyspark.errors import PySparkRuntimeError
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if SparkContext._active_spark_context is not None:  # made in another thread (`start_session`)
        return SparkSession.builder.getOrCreate()
    if local is None:
        local = not launched_by_spark_submit()
    builder = SparkSession.builder.appName(app_name)
    archive = None
    if local:
        java = require_java()
        _prepare_environment()
        if os.environ.get(CDS_SWITCH, "on").lower() not in ("off", "0", "false"):
            archive = ClassArchive.for_installation()
        conf = local_conf(cores, memory_mb, archive)
    else:
        submitted = submitted_conf()
        conf = {key: value for key, value in job_conf().items() if key not in submitted}
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        if local:
            _hushed.clear()
            _launch_jvm({"spark.app.name": app_name, **conf})
        spark = builder.getOrCreate()
    except PySparkRuntimeError as exc:
        if local and exc.getCondition() == "JAVA_GATEWAY_EXITED":  # the JVM said why, on stderr, above
            raise StageError(
                f"Spark's JVM exited as it started ({java})",
                hint="see its error above; Spark needs Java 17, and JAVA_HOME chooses which java runs",
            ) from None
        raise
    spark.sparkContext.setLogLevel("ERROR")
    if archive is not None and not archive.ready:
        atexit.register(_stop_and_publish, archive)
    return spark


# Set by `stop_quietly`, cleared by the next local session: the tasks an interrupt cancels, and the
# Python workers that lose their connections with them, say nothing (the user stopped them).
_hushed = threading.Event()


def _launch_jvm(conf: Mapping[str, str]) -> None:
    """Start the driver JVM of a local session as pyspark would (`launch_gateway`), unless this
    process has one already, with its stderr passed on line by line but for `JVM_NOISE`.

    The JVM, and the Python workers it starts, write to a pipe that a thread of this process reads
    until they are all gone; the thread writes to the stderr the JVM would have had. When the JVM
    exits as it starts, what it said is passed on before the error is raised."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:  # a stopped session's JVM: the next context joins it
        return
    read_end, write_end = os.pipe()
    passing = threading.Thread(target=_pass_on, args=(read_end, os.dup(2)), name="jvm-stderr", daemon=True)
    passing.start()
    try:
        try:
            gateway = launch_gateway(
                SparkConf(loadDefaults=False).setAll(conf.items()), popen_kwargs={"stderr": write_end}
            )
        finally:
            os.close(write_end)  # the JVM and its workers hold the pipe now
    except Exception:  # the JVM exited (not Ctrl-C, which leaves it running): its last words first
        passing.join(timeout=5)
        raise
    SparkContext._ensure_initialized(gateway=gateway)


def _pass_on(read_end: int, stderr: int) -> None:
    """Copy the JVM's lines to stderr, leaving out its noise, and everything once `_hushed` (the run
    was interrupted); read to the end whatever happens, so that the JVM never waits on a full pipe."""
    with open(read_end, "rb") as pipe, open(stderr, "wb") as out:
        for line in pipe:
            if _hushed.is_set() or line.startswith(JVM_NOISE):
                continue
            with contextlib.suppress(OSError):  # a closed terminal: the line is lost, not the JVM
                out.write(line)
                out.flush()


def start_session(app_name: str = "grocery") -> Future[SparkSession]:
    """`get_session` in a background thread: the JVM starts while the caller does other work.

    One start per process: a later call returns the same future (the preload of a run starts the
    session before the first Spark stage asks for it), unless that start failed or the session
    was stopped since."""
    global _starting
    with _start_lock:
        if _starting is None or not _usable(_starting):
            future: Future[SparkSession] = Future()

            def start() -> None:
                try:
                    future.set_result(get_session(app_name))
                except BaseException as exc:
                    future.set_exception(exc)

            threading.Thread(target=start, name="spark-start", daemon=True).start()
            _starting = future
        return _starting


_start_lock = threading.Lock()
_starting: Future[SparkSession] | None = None


def _usable(start: Future[SparkSession]) -> bool:
    """Whether a start still gives a session to use: it has not ended, or it made a session that
    has not been stopped since (`SparkContext.stop` lets go of its JVM context)."""
    if not start.done():
        return True
    return start.exception() is None and start.result().sparkContext._jsc is not None


WARM_UP_GROUP = "grocery-warm-up-{job}"  # the Spark job group of a warm-up's jobs


def warm_up_work(job: str) -> Callable[[], None]:
    """A Spark stage's preload (`grocery.stages.preload`): start the session now, in its own thread,
    and return the work of running the job once on a few made-up sales (`grocery.spark.jobs.warm_up`).

    The warm-up is skipped once a Spark stage of the run has claimed the session (`claim_session`).
    A run sets its preloads up before its first stage: this is where a new run starts unclaimed."""
    _claimed.clear()
    session = start_session()

    def work() -> None:
        # pyspark's modules import each other in circles: imported by two threads at once, one of
        # them can get a module half made. Only the thread that starts the session imports it.
        spark = session.result()
        from grocery.spark.jobs import warm_up

        global _warming_group
        with _warming_up:
            if not _claimed.is_set():
                _warming_group = WARM_UP_GROUP.format(job=job)
                try:
                    warm_up(spark, job)
                finally:
                    _warming_group = None

    return work


def claim_session(timeout: float | None = None) -> None:
    """Stop the warm-ups and wait until none runs, or `timeout` seconds have passed.

    Before a Spark stage's own job: a warm-up pays off while the stages before run on other engines.
    Beside a stage's Spark job it only takes the job's cores (measured at full scale: the run of
    segment and recommend took 3-4 s longer with recommend's warm-up beside segment), and the stage
    warms the JVM up itself. The running warm-up's Spark jobs are cancelled (it then fails, and its
    preload with it, harmlessly), again until it has stopped: its job may be between two Spark jobs
    when first asked. The JVM's logging is off meanwhile: Spark logs what the cancelled tasks hit at
    ERROR (`FileFormatWriter: Aborting job`, ...), which would only alarm the user.

    Before a run that failed or was interrupted ends the process: a warm-up's thread left reading
    its job's results inside pyarrow aborts the interpreter as it finalizes (`Fatal Python error:
    PyGILState_Release`, exit -6: CPython 3.11 ends such a thread under pyarrow's C++ frames)."""
    from pyspark import SparkContext

    _claimed.set()
    deadline = None if timeout is None else time.monotonic() + timeout
    level = None  # the JVM's log level before the first cancel, put back once the warm-up has ended
    try:
        while not _warming_up.acquire(timeout=0.05):
            if deadline is not None and time.monotonic() > deadline:
                return
            group, context = _warming_group, SparkContext._active_spark_context
            if group is not None and context is not None:
                if level is None:
                    level = _log_level(context)
                    context.setLogLevel("OFF")
                context.cancelJobGroup(group)
        _warming_up.release()
    finally:
        if level is not None:
            with contextlib.suppress(Exception):  # a JVM gone meanwhile logs nothing anyway
                SparkContext._active_spark_context.setLogLevel(level)


def _log_level(context: SparkContext) -> str:
    """The driver JVM's root log level, as `SparkContext.setLogLevel` takes it."""
    return str(context._jvm.org.apache.logging.log4j.LogManager.getRootLogger().getLevel().name())


def wait_for_tasks(spark: SparkSession, group: str, timeout: float = WIND_DOWN_SECONDS) -> None:
    """Wait until no task of the job group's jobs runs, or `timeout` seconds have passed.

    A cancelled job fails at once, while its tasks are still being killed: a task writing a file or
    caching a block goes on to undo it. Removing what the task works on before then (its folder, the
    cached frame) makes Spark log errors of the race, such as `Block rdd_13_0 does not exist`."""
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = (tracker.getJobInfo(job) for job in tracker.getJobIdsForGroup(group))
        stages = (tracker.getStageInfo(stage) for job in jobs if job is not None for stage in job.stageIds)
        if not any(stage is not None and stage.numActiveTasks > 0 for stage in stages):
            return
        time.sleep(0.02)


_warming_up = threading.Lock()  # held while a warm-up runs
_warming_group: str | None = None  # the Spark job group of the warm-up running, while one runs
_claimed = threading.Event()  # set once a Spark stage of the current run has begun its own job


def _stop_and_publish(archive: ClassArchive) -> None:
    """At exit of the process whose JVM records the class archive: stop, wait for the JVM, publish."""
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    jvm = getattr(SparkContext._gateway, "proc", None)
    if jvm is None:
        return
    jvm.stdin.close()  # the gateway exits at the end of its input, writing the archive on its way out
    try:
        jvm.wait(timeout=120)
    except Exception:  # a JVM that does not finish in time keeps its file; the next start removes it
        return
    archive.publish()


def stop_quietly() -> None:
    """Stop the Spark of an interrupted run: the JVM's stderr and logging off first, then the
    warm-ups ended (`claim_session`), the jobs cancelled and the context stopped, so the tasks that
    die on the way say nothing (the user stopped them)."""
    from pyspark import SparkContext

    _hushed.set()
    context = SparkContext._active_spark_context
    if context is None:
        return
    with contextlib.suppress(Exception):  # a JVM already gone has nothing left to stop
        context.setLogLevel("OFF")
        claim_session(timeout=WIND_DOWN_SECONDS)
        context.cancelAllJobs()
        context.stop()
