"""Terraform, checked offline: `terraform fmt -check`, parsed with python-hcl2 to assert the settings
that matter (private GKE with Workload Identity, the lake bucket, the six datasets, least-privilege
identities bound to the chart's Kubernetes ServiceAccounts, keyless GitHub federation, GCS state),
and checkov with no failed check (every skip carries its reason in the code).

`terraform validate` needs the Google provider, which is downloaded: it runs in GitHub Actions only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from grocery.spark.export import EXPORT_RELATION
from tests.deploy.conftest import ROOT, tool

hcl2 = pytest.importorskip("hcl2")

TF = ROOT / "terraform"
ENVS = ("dev", "prod")
LAYERS = ["raw", "quarantine", "staging", "core", "marts", "analytics"]
# Offline, quiet, and no reading of the machine's terraform CLI configuration.
TOOL_ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("TF_")},
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "BC_SKIP_MAPPING": "TRUE",
    "CHECKPOINT_DISABLE": "1",
    "TF_IN_AUTOMATION": "1",
}


def _clean(node):
    """python-hcl2 keeps HCL's quotes on strings and labels, and bookkeeping keys: drop them."""
    if isinstance(node, dict):
        return {_clean(k): _clean(v) for k, v in node.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(node, list):
        return [_clean(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def parse(folder: Path) -> dict[str, list]:
    """Every .tf file of a folder, merged by top-level key (resource, module, variable, ...)."""
    merged: dict[str, list] = {}
    for path in sorted(folder.glob("*.tf")):
        with path.open() as handle:
            for key, blocks in _clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(blocks)
    return merged


def resources(folder: Path, kind: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for block in parse(folder).get("resource", []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def modules(env: str) -> dict[str, dict]:
    return {
        name: body for block in parse(TF / "envs" / env).get("module", []) for name, body in block.items()
    }


def variable_default(folder: Path, name: str):
    for block in parse(folder).get("variable", []):
        if name in block:
            return block[name].get("default")
    raise KeyError(name)


def _text_of_all_tf() -> str:
    return "\n".join(p.read_text() for p in TF.rglob("*.tf")) + "\n".join(
        p.read_text() for p in TF.rglob("*.tfvars")
    )


def test_terraform_fmt_check():
    terraform = tool("terraform")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF)],
        capture_output=True, text=True, timeout=120, env=TOOL_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_finds_no_failed_check():
    checkov = tool("checkov")
    result = subprocess.run(
        [checkov, "--directory", str(TF), "--framework", "terraform", "--skip-download",
         "--output", "json", "--download-external-modules", "false"],
        capture_output=True, text=True, timeout=300, env=TOOL_ENV, cwd=TF,
    )  # fmt: skip
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    (report,) = [r for r in reports if r["check_type"] == "terraform"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in report["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 50
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "").strip()) > 20, skipped["check_id"]


def test_every_checkov_skip_says_why():
    for path in TF.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip=" in line:
                assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+:\s*\S.{20,}", line), (
                    f"{path}: {line.strip()}"
                )


def test_nothing_is_open_to_the_whole_internet_and_no_credentials_are_kept():
    text = _text_of_all_tf()
    assert "0.0.0.0/0" not in text and "::/0" not in text
    assert not re.search(r"^\s*credentials\s*=", text, flags=re.M)
    assert "google_service_account_key" not in text
    assert not re.search(r"allUsers|allAuthenticatedUsers", text)
    assert not list(TF.rglob("*.json")), "no credentials or key files next to the code"
    assert not re.search(
        r'"roles/(owner|editor)"', text.replace('contains(["roles/owner", "roles/editor"]', "")
    )


@pytest.mark.parametrize("env", ENVS)
def test_state_is_remote_in_gcs(env):
    (terraform,) = parse(TF / "envs" / env)["terraform"]
    (backend,) = terraform["backend"]
    assert backend["gcs"]["bucket"] == f"grocery-{env}-tfstate"
    assert backend["gcs"]["prefix"] == f"terraform/{env}"
    provider = parse(TF / "envs" / env)["provider"][0]["google"]
    assert "credentials" not in provider


def test_gke_is_private_with_workload_identity():
    gke = TF / "modules" / "gke"
    cluster = resources(gke, "google_container_cluster")["this"]
    assert cluster["workload_identity_config"][0]["workload_pool"] == "${var.project_id}.svc.id.goog"
    private = cluster["private_cluster_config"][0]
    assert private["enable_private_nodes"] is True and private["enable_private_endpoint"] is True
    assert cluster["master_authorized_networks_config"][0]["gcp_public_cidrs_access_enabled"] is False
    assert cluster["datapath_provider"] == "ADVANCED_DATAPATH"  # enforces the chart's NetworkPolicies
    assert cluster["enable_legacy_abac"] is False and cluster["remove_default_node_pool"] is True
    assert cluster["database_encryption"][0]["state"] == "ENCRYPTED"
    node_config = resources(gke, "google_container_node_pool")["default"]["node_config"][0]
    assert node_config["workload_metadata_config"][0]["mode"] == "GKE_METADATA"
    assert node_config["image_type"] == "COS_CONTAINERD"
    assert node_config["shielded_instance_config"][0]["enable_secure_boot"] is True
    node_roles = resources(gke, "google_project_iam_member")["nodes"]["for_each"]
    assert "roles/artifactregistry.reader" not in node_roles and "roles/editor" not in node_roles


def test_lake_bucket_is_uniform_versioned_and_has_lifecycle_rules():
    bucket = resources(TF / "modules" / "lake", "google_storage_bucket")["lake"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    actions = [rule["action"][0]["type"] for rule in bucket["lifecycle_rule"]]
    assert {"SetStorageClass", "Delete", "AbortIncompleteMultipartUpload"} <= set(actions)
    assert bucket["force_destroy"] is False


def test_bigquery_has_one_dataset_per_layer():
    assert variable_default(TF / "modules" / "bigquery", "layers") == LAYERS
    dataset = resources(TF / "modules" / "bigquery", "google_bigquery_dataset")["layer"]
    assert dataset["delete_contents_on_destroy"] is False
    for env in ENVS:
        assert "layers" not in modules(env)["bigquery"], "every environment gets all six layers"


def test_artifact_registry_is_written_by_release_and_read_by_nodes():
    registry = modules("prod")["artifact_registry"]
    assert registry["writers"] == ['serviceAccount:${module.github_wif.emails["grocery-release"]}']
    assert "module.gke.node_service_account" in registry["readers"]
    repo = resources(TF / "modules" / "artifact_registry", "google_artifact_registry_repository")["this"]
    assert repo["format"] == "DOCKER" and repo["docker_config"][0]["immutable_tags"] is True
    assert variable_default(TF / "modules" / "artifact_registry", "repositories") == ["grocery", "charts"]


def _chart_service_accounts(env: str) -> dict[str, tuple[str, str, str]]:
    """What the chart renders with the environment's values: identity -> (namespace, name, Google SA)."""
    from grocery import deploy
    from tests.deploy.conftest import render

    helm_python = pytest.importorskip("helm_python")
    chart = helm_python.Chart.load(ROOT / "charts" / "grocery-pipeline")
    try:
        objects = render(chart, deploy.plan(env).values)
    finally:
        chart.close()
    found = {}
    for sa in (o for o in objects if o["kind"] == "ServiceAccount"):
        gsa = sa["metadata"].get("annotations", {}).get("iam.gke.io/gcp-service-account")
        if gsa:
            identity = gsa.split("@")[0].removeprefix("grocery-")
            found[identity] = (sa["metadata"]["namespace"], sa["metadata"]["name"], gsa)
    return found


@pytest.mark.parametrize("env", ENVS)
def test_workload_identity_binds_exactly_the_charts_service_accounts(env):
    identities = modules(env)["workload_identity"]["identities"]
    project = re.search(
        r'project_id\s*=\s*"([^"]+)"', (TF / "envs" / env / "terraform.tfvars").read_text()
    ).group(1)
    chart_accounts = _chart_service_accounts(env)
    assert set(chart_accounts) == {"operator", "pipeline", "spark"}
    for identity, (namespace, name, gsa) in chart_accounts.items():
        assert identities[identity]["namespace"] == namespace
        assert identities[identity]["service_account"] == name
        assert gsa == f"grocery-{identity}@{project}.iam.gserviceaccount.com"
    # Least privilege: the operator needs nothing from Google. Spark's drivers need the lake, and run
    # the export of the fact (a query and EXPORT DATA of the view grocery.spark.export reads, and
    # what it selects from): BigQuery jobs, reading those datasets and no other, writing none.
    assert set(identities["operator"]) == {"namespace", "service_account"}
    spark = identities["spark"]
    assert spark["bucket_roles"] == ["roles/storage.objectUser"]
    assert spark["project_roles"] == ["roles/bigquery.jobUser"]
    assert spark["dataset_role"] == "roles/bigquery.dataViewer"
    read = {
        re.fullmatch(r'\$\{module\.bigquery\.dataset_ids\["(\w+)"\]\}', d).group(1) for d in spark["datasets"]
    }
    assert read == {EXPORT_RELATION[0], "core"}
    assert identities["pipeline"]["project_roles"] == ["roles/bigquery.jobUser"]
    assert identities["pipeline"]["dataset_role"] == "roles/bigquery.dataEditor"
    binding = resources(TF / "modules" / "workload_identity", "google_service_account_iam_member")[
        "workload_identity"
    ]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert (
        binding["member"]
        == "serviceAccount:${var.workload_pool}[${each.value.namespace}/${each.value.service_account}]"
    )


def test_github_federation_is_keyless_and_pinned_to_repository_and_environment():
    provider = resources(TF / "modules" / "github_wif", "google_iam_workload_identity_pool_provider")[
        "github"
    ]
    assert provider["oidc"][0]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert (
        provider["attribute_condition"]
        == "assertion.sub == 'repo:${var.repository}:environment:${var.environment}'"
    )
    dev, prod = modules("dev")["github_wif"], modules("prod")["github_wif"]
    assert dev["environment"] == "dev" and set(dev["service_accounts"]) == {"grocery-deploy"}
    assert prod["environment"] == "release" and set(prod["service_accounts"]) == {"grocery-release"}
    # prod is Argo CD's: no workflow identity there may touch the cluster.
    assert "project_roles" not in prod["service_accounts"]["grocery-release"]
    workflows = {
        p.name: yaml.safe_load(p.read_text()) for p in (ROOT / ".github" / "workflows").glob("*.yml")
    }
    for name, job in workflows["release.yml"]["jobs"].items():
        assert job.get("environment") == "release", f"release.yml {name} must run in environment release"
    assert workflows["deploy.yml"]["jobs"]["deploy-dev"]["environment"] == "dev"


def test_control_plane_range_matches_the_charts_network_policy():
    for env, values_file in (("dev", "deploy/dev/values.yaml"), ("prod", "deploy/argocd/prod/values.yaml")):
        cidrs = yaml.safe_load((ROOT / values_file).read_text())["networkPolicy"]["apiServerCidrs"]
        assert cidrs == [variable_default(TF / "envs" / env, "master_ipv4_cidr_block")]
