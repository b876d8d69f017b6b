"""GitHub Actions workflows: valid against the GitHub workflow schema (check-jsonschema's vendored copy,
offline), keyless Google auth (Workload Identity Federation), and one owner per environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _load(name: str) -> dict:
    # PyYAML reads the key `on` as True; give it its name back.
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict, action: str) -> list[dict]:
    return [s for s in _steps(job) if s.get("uses", "").split("@")[0] == action]


def test_the_three_workflows_exist():
    assert {p.name for p in FILES} == {"ci.yml", "release.yml", "deploy.yml"}


def test_workflows_match_the_github_workflow_schema():
    beside_python = Path(sys.executable).with_name("check-jsonschema")
    tool = str(beside_python) if beside_python.exists() else shutil.which("check-jsonschema")
    if not tool:
        pytest.skip("check-jsonschema not installed")
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *map(str, FILES)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_google_auth_is_keyless(path):
    text = path.read_text()
    for forbidden in ("credentials_json", "GOOGLE_CREDENTIALS", "GCP_SA_KEY", "service_account_key"):
        assert forbidden not in text
    doc = _load(path.name)
    assert doc["permissions"] == {"contents": "read"}, "least privilege by default"
    for name, job in doc["jobs"].items():
        for step in _uses(job, "google-github-actions/auth"):
            assert set(step["with"]) >= {"workload_identity_provider", "service_account"}, name
            assert step["with"]["workload_identity_provider"].startswith("${{ vars."), name
            assert job["permissions"]["id-token"] == "write", f"{name}: WIF needs an OIDC token"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path):
    for job in _load(path.name)["jobs"].values():
        for step in _steps(job):
            if "uses" in step:
                assert "@" in step["uses"] and not step["uses"].endswith(("@main", "@master")), step["uses"]


def test_ci_runs_the_projects_test_command_and_the_deploy_checks():
    ci = _load("ci.yml")
    runs = "\n".join(s.get("run", "") for job in ci["jobs"].values() for s in _steps(job))
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci_script and "./dev test" in runs
    assert "pytest tests/deploy" in runs and "helm lint --strict" in runs and "terraform" in runs


def test_release_builds_every_image_and_pushes_the_chart():
    release = _load("release.yml")
    assert release["on"] == {"push": {"tags": ["v*.*.*"]}}
    built = set(release["jobs"]["images"]["strategy"]["matrix"]["image"])
    built |= {"livy"} if "images/livy/Dockerfile" in str(release["jobs"]["livy"]) else set()
    assert built == {p.parent.name for p in (ROOT / "images").glob("*/Dockerfile")}
    chart_runs = "\n".join(s.get("run", "") for s in _steps(release["jobs"]["chart"]))
    assert "helm package" in chart_runs and "helm push" in chart_runs and "oci://" in str(release["env"])


def test_each_environment_has_exactly_one_owner():
    deploy = _load("deploy.yml")
    jobs = deploy["jobs"]
    helm_jobs = {
        name for name, job in jobs.items()
        if any("grocery deploy" in s.get("run", "") or "helm upgrade" in s.get("run", "") for s in _steps(job))
    }  # fmt: skip
    assert helm_jobs == {"deploy-dev"}
    assert jobs["deploy-dev"]["environment"] == "dev"
    assert "--env dev" in str(jobs["deploy-dev"])
    prod = jobs["promote-prod"]
    assert prod["environment"] == "prod"
    assert not _uses(prod, "google-github-actions/get-gke-credentials") and not _uses(
        prod, "google-github-actions/auth"
    )
    prod_runs = "\n".join(s.get("run", "") for s in _steps(prod))
    assert "deploy/argocd/prod/values.yaml" in prod_runs and "git push" in prod_runs
    assert prod["permissions"] == {"contents": "write"}
    # Argo CD's side of the rule: no Application for dev.
    apps = [yaml.safe_load(p.read_text()) for p in (ROOT / "deploy" / "argocd").rglob("application*.yaml")]
    assert all(a["metadata"]["labels"]["grocery.io/environment"] == "prod" for a in apps)


def test_promotion_edits_fields_that_exist():
    values = yaml.safe_load((ROOT / "deploy" / "argocd" / "prod" / "values.yaml").read_text())
    app = yaml.safe_load((ROOT / "deploy" / "argocd" / "prod" / "application.yaml").read_text())
    assert "tag" in values["image"]
    assert any(
        s.get("path") == "charts/grocery-pipeline" and "targetRevision" in s for s in app["spec"]["sources"]
    )
