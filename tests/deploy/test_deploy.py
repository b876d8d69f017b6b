"""`grocery deploy`: values merged in Helm's order, --dry-run renders without a cluster or a helm
binary, the upgrade applies the chart's CRDs with kubectl and then goes through pyhelm3 as
`helm upgrade --install` with rollback on failure (checked against stand-in helm and kubectl
executables that record their command lines, in order), and prod is refused."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from grocery import deploy
from grocery.cli import app
from tests.deploy.conftest import CHART, load_all

FAKE_HELM = """#!{python}
import json, os, sys
args = sys.argv[1:]
stdin = sys.stdin.read() if "-" in args else ""
with open(os.environ["FAKE_HELM_LOG"], "a") as log:
    log.write(json.dumps({{"args": args, "stdin": stdin}}) + "\\n")
if args[:1] == ["version"]:
    print("v3.17.3", end="")
elif args[:2] == ["show", "chart"]:
    print(open(os.path.join(args[2], "Chart.yaml")).read())
elif args[:1] == ["upgrade"]:
    if os.environ.get("FAKE_HELM_FAIL"):
        sys.stderr.write("Error: UPGRADE FAILED: context deadline exceeded\\n")
        sys.exit(1)
    ns = args[args.index("--namespace") + 1]
    print(json.dumps({{"name": args[1], "namespace": ns, "version": 4, "manifest": "",
                      "info": {{"status": "deployed", "last_deployed": "2026-11-26T10:00:00Z", "notes": "grocery-pipeline is installed"}},
                      "chart": {{"metadata": {{"apiVersion": "v2", "name": "grocery-pipeline", "version": "0.1.0"}}}}}}))
else:
    sys.exit("unexpected: " + " ".join(args))
"""

FAKE_KUBECTL = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_HELM_LOG"], "a") as log:
    log.write(json.dumps({{"tool": "kubectl", "args": args}}) + "\\n")
if os.environ.get("FAKE_KUBECTL_FAIL"):
    sys.stderr.write("error: You must be logged in to the server (Unauthorized)\\n")
    sys.exit(1)
for name in sorted(os.listdir(args[args.index("-f") + 1])):
    print("customresourcedefinition.apiextensions.k8s.io/" + name.removesuffix(".yaml") + " serverside-applied")
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def fake_helm(tmp_path, monkeypatch) -> Path:
    """A stand-in helm and kubectl on PATH; both append their calls to the returned log."""
    pytest.importorskip("pyhelm3")
    (tmp_path / "bin").mkdir()
    _executable(tmp_path / "bin" / "helm", FAKE_HELM)
    _executable(tmp_path / "bin" / "kubectl", FAKE_KUBECTL)
    log = tmp_path / "helm.log"
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HELM_LOG", str(log))
    return log


def _calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_values_merge_env_file_then_files_then_tag_then_sets(tmp_path):
    extra = tmp_path / "extra.yaml"
    extra.write_text("livy:\n  enabled: false\noperator:\n  logLevel: debug\n")
    p = deploy.plan(
        "dev", image_tag="1.2.3", values_files=[extra], sets=["operator.logLevel=quiet", "livy.port=9000"]
    )
    assert p.release == "grocery-pipeline" and p.namespace == "grocery" and p.chart_dir == CHART
    assert p.values["image"] == {
        "registry": "europe-west1-docker.pkg.dev/grocery-prod/grocery",
        "tag": "1.2.3",
    }
    assert p.values["operator"]["logLevel"] == "quiet"
    assert p.values["operator"]["airflow"]["credentialsSecret"] == "airflow-api-credentials"  # kept from dev
    assert p.values["livy"] == {"enabled": False, "port": 9000}


@pytest.mark.parametrize("bad", ["novalue", "=x", "a..b=1"])
def test_set_needs_a_key_path_and_a_value(bad):
    with pytest.raises(deploy.DeployError, match=r"key\.path=value"):
        deploy.parse_set(bad)


def test_unknown_environment_is_refused():
    with pytest.raises(deploy.DeployError, match="unknown environment 'staging'"):
        deploy.plan("staging")


def test_dry_run_renders_the_release_offline():
    pytest.importorskip("helm_python")
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--image-tag", "2.0.0", "--dry-run"])
    assert result.exit_code == 0, result.output
    objects = load_all(result.output)
    operator = next(
        o
        for o in objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "grocery-pipeline-operator"
    )
    image = operator["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "europe-west1-docker.pkg.dev/grocery-prod/grocery/grocery-pipeline-operator:2.0.0"
    assert {o["metadata"].get("namespace") for o in objects} <= {"grocery", "airflow", None}
    # dev's pipeline sets no image: the operator gives its stages the release's images.
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (
        env["GROCERY_PIPELINE_IMAGE"]
        == "europe-west1-docker.pkg.dev/grocery-prod/grocery/grocery-pipeline:2.0.0"
    )
    assert (
        env["GROCERY_SPARK_IMAGE"]
        == "europe-west1-docker.pkg.dev/grocery-prod/grocery/grocery-pipeline-spark:2.0.0"
    )
    [daily] = [o for o in objects if o["kind"] == "GroceryPipeline"]
    assert "image" not in daily["spec"].get("execution", {}) and "image" not in daily["spec"].get("spark", {})


def test_dry_run_of_prod_renders_what_argo_cd_would_sync():
    pytest.importorskip("helm_python")
    result = CliRunner().invoke(app, ["deploy", "--env", "prod", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "grocery-prod" in result.output


def test_bad_values_fail_in_one_line_naming_the_path():
    pytest.importorskip("helm_python")
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--set", "livy.port=http", "--dry-run"])
    assert result.exit_code == 1
    assert "at '/livy/port'" in result.output and "Traceback" not in result.output


def test_upgrade_runs_helm_upgrade_install_with_rollback_through_pyhelm3(fake_helm):
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--image-tag", "1.2.3", "--timeout", "7m"])
    assert result.exit_code == 0, result.output
    assert "revision 4, deployed" in result.output
    (upgrade,) = [c for c in _calls(fake_helm) if c["args"][0] == "upgrade"]
    args = upgrade["args"]
    assert args[1:3] == ["grocery-pipeline", str(CHART)]
    for flag in ("--install", "--atomic", "--wait", "--create-namespace"):
        assert flag in args
    assert args[args.index("--namespace") + 1] == "grocery"
    assert args[args.index("--timeout") + 1] == "7m"
    assert args[args.index("--values") + 1] == "-"
    values = yaml.safe_load(upgrade["stdin"])
    assert values["image"]["tag"] == "1.2.3"
    assert values["pipeline"]["serviceAccount"]["gcpServiceAccount"].endswith(
        "@grocery-dev.iam.gserviceaccount.com"
    )


def test_upgrade_applies_the_charts_crds_first(fake_helm):
    """helm upgrade never upgrades a CRD: without this, new fields of the spec would be pruned."""
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--kube-context", "gke_dev"])
    assert result.exit_code == 0, result.output
    assert "grocerypipelines.grocery.io serverside-applied" in result.output
    calls = [
        c for c in _calls(fake_helm) if c["args"][:1] != ["version"] and c["args"][:2] != ["show", "chart"]
    ]
    assert [c.get("tool", "helm") for c in calls] == ["kubectl", "helm"]
    apply, upgrade = calls[0]["args"], calls[1]["args"]
    assert apply[:3] == ["--context", "gke_dev", "apply"]
    assert "--server-side" in apply and "--force-conflicts" in apply
    assert apply[apply.index("-f") + 1] == str(CHART / "crds")
    assert upgrade[0] == "upgrade" and upgrade[upgrade.index("--kube-context") + 1] == "gke_dev"


def test_failed_crd_apply_stops_before_helm_in_one_line(fake_helm, monkeypatch):
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "1")
    result = CliRunner().invoke(app, ["deploy", "--env", "dev"])
    assert result.exit_code == 1
    assert "kubectl apply of the CRDs" in result.output and "(Unauthorized)" in result.output
    assert "nothing was upgraded" in result.output and "Traceback" not in result.output
    assert not [c for c in _calls(fake_helm) if c["args"][:1] == ["upgrade"]]


def test_missing_kubectl_is_one_line_before_helm(fake_helm, tmp_path, monkeypatch):
    (tmp_path / "bin" / "kubectl").unlink()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # not this machine's own kubectl either
    result = CliRunner().invoke(app, ["deploy", "--env", "dev"])
    assert result.exit_code == 1 and "kubectl is not on PATH" in result.output
    assert not [c for c in _calls(fake_helm) if c["args"][:1] == ["upgrade"]]


def test_failed_upgrade_is_one_line(fake_helm, monkeypatch):
    monkeypatch.setenv("FAKE_HELM_FAIL", "1")
    result = CliRunner().invoke(app, ["deploy", "--env", "dev", "--no-wait"])
    assert result.exit_code == 1
    assert "helm upgrade failed: Error: UPGRADE FAILED: context deadline exceeded" in result.output
    assert "Traceback" not in result.output


def test_prod_upgrade_is_refused_without_calling_helm(fake_helm):
    result = CliRunner().invoke(app, ["deploy", "--env", "prod", "--image-tag", "1.2.3"])
    assert result.exit_code == 1
    assert "owned by Argo CD" in result.output
    assert not fake_helm.exists()


def test_missing_helm_is_one_line(monkeypatch, tmp_path):
    pytest.importorskip("pyhelm3")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(app, ["deploy", "--env", "dev"])
    assert result.exit_code == 1 and "helm is not usable" in result.output
