"""The Helm chart, rendered offline for several value sets: valid Kubernetes objects, restricted pods,
least-privilege RBAC, the operator's kopf wiring, Livy inside the cluster only, and a schema that
refuses wrong values with their path."""

from __future__ import annotations

import functools
import json
import re
import tomllib

import pytest
import yaml

from grocery.config import PipelineSpec
from tests.deploy.conftest import CHART, CRD, KUBE_VERSION, ROOT, load_all, render

helm_python = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once():
    """kubernetes-validate reads its (large) schema files for every object: read each once."""
    from kubernetes_validate import utils

    original = utils.schema_contents
    utils.schema_contents = functools.cache(original)
    yield
    utils.schema_contents = original


GSA = "{}@grocery-prod-1234.iam.gserviceaccount.com"

VALUE_SETS: dict[str, dict] = {
    "defaults": {},
    "everything-on": {
        "image": {"registry": "europe-west1-docker.pkg.dev/grocery-prod-1234/grocery", "tag": "1.2.3"},
        "jobNamespace": "grocery-jobs",
        "commonLabels": {"team": "data"},
        "operator": {
            "watchNamespaces": ["grocery-jobs", "team-a"],
            "configNamespace": "airflow",
            "logLevel": "verbose",
            "airflow": {"credentialsSecret": "airflow-api"},
            "serviceAccount": {"gcpServiceAccount": GSA.format("grocery-operator")},
            "image": {"digest": "sha256:" + "a" * 64},
        },
        "pipeline": {"serviceAccount": {"gcpServiceAccount": GSA.format("grocery-pipeline")}},
        "spark": {"driverServiceAccount": {"gcpServiceAccount": GSA.format("grocery-spark")}},
        "livy": {"enabled": True, "sparkConf": {"spark.executor.instances": 2}},
        "networkPolicy": {"apiServerCidrs": ["172.16.0.0/28"]},
        "imagePullSecrets": ["registry"],
        "pipelines": [
            {"name": "daily", "spec": {"schedule": "@daily", "spark": {"submitter": "livy"}}},
            {
                "name": "big",
                "namespace": "team-a",
                "spec": {
                    "lake": "gs://grocery-lake/prod",
                    "warehouse": {"kind": "bigquery", "project": "grocery-prod-1234"},
                    "execution": {"mode": "kubernetes", "namespace": "grocery-jobs"},
                },
            },
        ],
    },
    "livy-only": {
        "operator": {"enabled": False},
        "livy": {"enabled": True},
        "spark": {"enabled": False},
        "airflow": {"rbac": False},
        "pipeline": {"serviceAccount": {"create": False}},
        "networkPolicy": {"enabled": False},
    },
}
# The values each environment really deploys with.
ENV_VALUES = {
    "env-dev": ROOT / "deploy" / "dev" / "values.yaml",
    "env-prod": ROOT / "deploy" / "argocd" / "prod" / "values.yaml",
}
for _name, _path in ENV_VALUES.items():
    VALUE_SETS[_name] = yaml.safe_load(_path.read_text()) or {}

RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(VALUE_SETS))
def rendered(request, chart) -> tuple[str, list[dict]]:
    return request.param, render(chart, VALUE_SETS[request.param])


def _kinds(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def _pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    """Every pod spec: of workloads, and of the Spark pod template Livy hands to spark-submit."""
    specs = [
        (o["metadata"]["name"], o["spec"]["template"]["spec"]) for o in objects if o["kind"] == "Deployment"
    ]
    for cm in _kinds(objects, "ConfigMap"):
        if "pod.yaml" in cm.get("data", {}):
            specs.append(
                (cm["metadata"]["name"] + "/pod.yaml", yaml.safe_load(cm["data"]["pod.yaml"])["spec"])
            )
    return specs


def test_lint_strict_reports_no_warning_or_error():
    report = helm_python.lint(CHART, strict=True)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report["errors"], problems or report["errors"]


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_schema_accepts_every_value_set(chart, name):
    chart.validate_schema(VALUE_SETS[name])


def test_every_object_is_valid_kubernetes_strictly(rendered):
    name, objects = rendered
    assert objects, f"{name}: nothing rendered"
    for obj in objects:
        if obj["kind"] == "GroceryPipeline":
            continue  # a custom resource: see test_example_pipelines_are_valid
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


STANDARD_LABELS = (
    "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
    "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart",
)  # fmt: skip


def test_every_object_has_the_standard_labels(rendered):
    _, objects = rendered
    for obj in objects:
        labels = obj["metadata"]["labels"]
        for key in STANDARD_LABELS:
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_common_labels_add_labels_but_never_replace_the_charts_own(chart):
    """A commonLabels key the chart sets itself is left out (it rendered twice in one mapping, and a
    selector label would change): every object is the one rendered without it, plus the other labels."""
    values = {"livy": {"enabled": True}, "jobNamespace": "grocery-jobs"}
    common = {**dict.fromkeys(STANDARD_LABELS, "x"), "team": "data"}
    manifests = chart.render({**values, "commonLabels": common}, name="grocery-pipeline", namespace="grocery")
    for path, text in manifests.items():
        if not path.endswith(".txt"):
            for key in STANDARD_LABELS:
                assert not re.search(rf"^\s*{re.escape(key)}: x$", text, re.M), f"{path}: {key}: x"

    expected = render(chart, values)
    for obj in expected:
        for meta in (obj["metadata"], obj.get("spec", {}).get("template", {}).get("metadata")):
            if meta is not None:
                meta["labels"] = {**meta["labels"], "team": "data"}
    assert render(chart, {**values, "commonLabels": common}) == expected
    notes = "grocery-pipeline/templates/NOTES.txt"
    assert f"Note: commonLabels {', '.join(sorted(STANDARD_LABELS))} left out" in manifests[notes]
    assert "commonLabels" not in chart.render(values, name="grocery-pipeline", namespace="grocery")[notes]


def test_every_namespaced_object_names_its_namespace(rendered):
    _, objects = rendered
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding"}
    for obj in objects:
        assert ("namespace" in obj["metadata"]) == (obj["kind"] not in cluster_scoped), obj["metadata"][
            "name"
        ]


def test_every_pod_meets_the_restricted_pod_security_standard(rendered):
    name, objects = rendered
    for pod_name, spec in _pod_specs(objects):
        where = f"{name}: {pod_name}"
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["runAsUser"] > 0, where
        assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), f"{where}: {key}"
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUME_TYPES, f"{where}: volume {volume['name']} is {kinds}"
        for container in spec["containers"] + spec.get("initContainers", []):
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            # Spark's pods write in their image (the driver's temporary folder too), as the
            # SparkApplications the operator renders (grocery.airflow.manifests.spark_application).
            spark_pod = where.endswith("/pod.yaml")
            assert sc["readOnlyRootFilesystem"] is not spark_pod, where
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), where
            assert not sc.get("privileged"), where
            assert not any(p.get("hostPort") for p in container.get("ports", [])), where
            if "image" in container:  # the Spark pod template leaves the image to spark-submit
                assert not container["image"].endswith(":latest"), where


def test_every_container_has_resources_and_probes(rendered):
    _, objects = rendered
    for deploy in _kinds(objects, "Deployment"):
        for container in deploy["spec"]["template"]["spec"]["containers"]:
            assert {"requests", "limits"} <= set(container["resources"]), container["name"]
            assert "livenessProbe" in container and "readinessProbe" in container, container["name"]


def test_rbac_has_no_wildcards_and_never_escalates(rendered):
    _, objects = rendered
    allowed_verbs = {"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
    for role in _kinds(objects, "Role") + _kinds(objects, "ClusterRole"):
        for rule in role["rules"]:
            where = f"{role['kind']}/{role['metadata']['name']}"
            for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert "*" not in rule.get(field, []), f"{where}: wildcard in {field}"
            assert set(rule["verbs"]) <= allowed_verbs, f"{where}: {rule['verbs']}"
            assert "rbac.authorization.k8s.io" not in rule["apiGroups"], f"{where}: may edit RBAC"
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"] and rule.get("resourceNames"), f"{where}: broad secret access"
            assert not {"leases", "clusterkopfpeerings", "kopfpeerings"} & set(rule["resources"]), where
    for binding in _kinds(objects, "RoleBinding") + _kinds(objects, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] not in {"cluster-admin", "admin", "edit"}, binding["metadata"][
            "name"
        ]


def _rules(role: dict) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


OPERATOR_NAMESPACED = (
    {("grocery.io", "grocerypipelines", v) for v in ("get", "list", "watch", "patch")}
    | {("grocery.io", "grocerypipelines/status", v) for v in ("get", "patch", "update")}
    | {("", "configmaps", v) for v in ("get", "list", "watch", "create", "update", "patch", "delete")}
    | {(g, "events", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
)
OPERATOR_CLUSTER = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "namespaces", "list"),
    ("", "namespaces", "watch"),
}


OPERATOR_PURGE = {("batch", "jobs", v) for v in ("get", "create", "delete")}


def test_operator_watching_all_namespaces_gets_exactly_what_kopf_uses(chart):
    objects = render(chart, {})
    (cluster_role,) = _kinds(objects, "ClusterRole")
    assert _rules(cluster_role) == OPERATOR_CLUSTER | OPERATOR_NAMESPACED
    operator_roles = [r for r in _kinds(objects, "Role") if "operator" in r["metadata"]["name"]]
    assert [r["metadata"]["name"] for r in operator_roles] == ["grocery-pipeline-operator-purge"]


def test_operator_runs_data_deletion_jobs_in_the_job_namespace_only(chart):
    objects = render(chart, {"jobNamespace": "jobs", "operator": {"watchNamespaces": ["team-a"]}})
    jobs = [
        r
        for r in _kinds(objects, "Role") + _kinds(objects, "ClusterRole")
        if ("batch", "jobs", "create") in _rules(r)
    ]
    assert [(r["kind"], r["metadata"].get("namespace")) for r in jobs] == [("Role", "jobs")]
    (role,) = jobs
    assert _rules(role) == OPERATOR_PURGE
    (binding,) = [
        b for b in _kinds(objects, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]
    ]
    assert binding["metadata"]["namespace"] == "jobs"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "grocery-pipeline-operator", "namespace": "grocery"}
    ]
    assert not [
        r
        for r in _kinds(render(chart, {"operator": {"enabled": False}}), "Role")
        if "operator" in r["metadata"]["name"]
    ]


def test_operator_watching_some_namespaces_gets_roles_there_only(chart):
    objects = render(chart, VALUE_SETS["everything-on"])
    (cluster_role,) = _kinds(objects, "ClusterRole")
    assert _rules(cluster_role) == OPERATOR_CLUSTER
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r for r in _kinds(objects, "Role")}
    for ns in ("grocery-jobs", "team-a"):
        assert _rules(roles[(ns, "grocery-pipeline-operator")]) == OPERATOR_NAMESPACED
    assert _rules(roles[("grocery-jobs", "grocery-pipeline-operator-purge")]) == OPERATOR_PURGE
    config = roles[("airflow", "grocery-pipeline-operator-config")]
    assert {r for _, r, _ in _rules(config)} == {"configmaps"}
    secret = roles[("grocery", "grocery-pipeline-operator-airflow-credentials")]
    assert secret["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["airflow-api"], "verbs": ["get"]}
    ]
    bindings = {(b["metadata"]["namespace"], b["metadata"]["name"]) for b in _kinds(objects, "RoleBinding")}
    assert set(roles) <= bindings


def test_operator_runs_kopf_once_with_its_health_endpoint_as_probes(rendered):
    name, objects = rendered
    deployments = [d for d in _kinds(objects, "Deployment") if d["metadata"]["name"].endswith("-operator")]
    if not VALUE_SETS[name].get("operator", {}).get("enabled", True):
        assert not deployments
        return
    (deploy,) = deployments
    assert deploy["spec"]["replicas"] == 1
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["kopf"]
    args = container["args"]
    assert args[0] == "run" and "--standalone" in args and args[-1] == "/app/operator/main.py"
    liveness = next(a for a in args if a.startswith("--liveness="))
    port = int(re.fullmatch(r"--liveness=http://0\.0\.0\.0:(\d+)/healthz", liveness).group(1))
    (declared,) = container["ports"]
    assert declared["containerPort"] == port
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": declared["name"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GROCERY_AIRFLOW_URL"].startswith("http")
    assert {"GROCERY_NAMESPACE", "GROCERY_WATCH_TIMEOUT", "GROCERY_STATUS_INTERVAL"} <= set(env)


def test_operator_settings_are_those_the_operator_reads(chart):
    settings_doc = ROOT / "src" / "grocery" / "operator" / "settings.py"
    if not settings_doc.exists():
        pytest.skip("the operator's settings module is not there yet")
    known = set(re.findall(r"\b(GROCERY_[A-Z_]+)\b", settings_doc.read_text()))
    (deploy,) = [
        d for d in _kinds(render(chart, {}), "Deployment") if d["metadata"]["name"].endswith("-operator")
    ]
    names = {e["name"] for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {n for n in names if n.startswith("GROCERY_")} <= known


def test_watch_namespaces_become_kopf_namespace_flags(chart):
    objects = render(chart, {"operator": {"watchNamespaces": ["a", "b"]}})
    (deploy,) = _kinds(objects, "Deployment")
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=a" in args and "--namespace=b" in args and "--all-namespaces" not in args


def test_livy_is_reachable_only_inside_the_cluster_and_submits_to_kubernetes(chart):
    objects = render(chart, VALUE_SETS["everything-on"])
    (service,) = [s for s in _kinds(objects, "Service") if s["metadata"]["name"].endswith("-livy")]
    assert service["spec"]["type"] == "ClusterIP"
    assert not _kinds(objects, "Ingress")
    (cm,) = [c for c in _kinds(objects, "ConfigMap") if c["metadata"]["name"].endswith("-livy")]
    livy_conf = cm["data"]["livy.conf"]
    assert "livy.spark.master = k8s://https://kubernetes.default.svc:443" in livy_conf
    assert "livy.spark.deploy-mode = cluster" in livy_conf
    spark_conf = cm["data"]["spark-defaults.conf"]
    assert "spark.kubernetes.namespace grocery-jobs" in spark_conf
    assert "spark.kubernetes.authenticate.driver.serviceAccountName grocery-spark-driver" in spark_conf
    assert (
        "spark.kubernetes.container.image europe-west1-docker.pkg.dev/grocery-prod-1234/grocery/grocery-pipeline-spark:1.2.3"
        in spark_conf
    )
    assert "spark.executor.instances 2" in spark_conf
    (policy,) = [p for p in _kinds(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-livy")]
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}}}
    ]


def test_livy_is_off_by_default(chart):
    assert not [o for o in render(chart, {}) if o["metadata"]["name"].endswith("-livy")]


def test_no_service_is_exposed_outside_the_cluster(rendered):
    _, objects = rendered
    for service in _kinds(objects, "Service"):
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert not _kinds(objects, "Ingress")


def test_workload_identity_annotations_follow_values(chart):
    objects = render(chart, VALUE_SETS["everything-on"])
    accounts = {sa["metadata"]["name"]: sa for sa in _kinds(objects, "ServiceAccount")}
    expected = {
        "grocery-pipeline-operator": GSA.format("grocery-operator"),
        "grocery-pipeline": GSA.format("grocery-pipeline"),
        "grocery-spark-driver": GSA.format("grocery-spark"),
    }
    for name, gsa in expected.items():
        assert accounts[name]["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": gsa}
    assert accounts["grocery-pipeline"]["metadata"]["namespace"] == "grocery-jobs"
    assert accounts["grocery-pipeline"]["automountServiceAccountToken"] is False
    for sa in _kinds(render(chart, {}), "ServiceAccount"):
        assert "annotations" not in sa["metadata"]


def test_spark_driver_and_airflow_get_roles_in_the_job_namespace(chart):
    objects = render(chart, {"jobNamespace": "jobs"})
    roles = {r["metadata"]["name"]: r for r in _kinds(objects, "Role")}
    driver, airflow = roles["grocery-pipeline-spark-driver"], roles["grocery-pipeline-airflow"]
    assert driver["metadata"]["namespace"] == airflow["metadata"]["namespace"] == "jobs"
    assert ("", "pods", "create") in _rules(driver) and ("", "services", "create") in _rules(driver)
    assert ("sparkoperator.k8s.io", "sparkapplications", "create") in _rules(airflow)
    assert ("", "pods/log", "get") in _rules(airflow)
    binding = next(
        b for b in _kinds(objects, "RoleBinding") if b["metadata"]["name"] == "grocery-pipeline-airflow"
    )
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "airflow"}
    ]


def test_no_airflow_service_accounts_render_no_binding_without_subjects(chart):
    """Empty airflow.serviceAccounts or configReaders: no Role for them, never a RoleBinding of nobody."""
    objects = render(chart, {"airflow": {"serviceAccounts": [], "configReaders": []}})
    for binding in _kinds(objects, "RoleBinding") + _kinds(objects, "ClusterRoleBinding"):
        assert binding.get("subjects"), f"{binding['metadata']['name']} binds no one"
    names = {o["metadata"]["name"] for o in _kinds(objects, "Role") + _kinds(objects, "RoleBinding")}
    assert not names & {"grocery-pipeline-airflow", "grocery-pipeline-pipeline-config-reader"}
    readers = render(
        chart, {"airflow": {"configReaders": [{"name": "airflow-worker", "namespace": "airflow"}]}}
    )
    (binding,) = [
        b for b in _kinds(readers, "RoleBinding") if b["metadata"]["name"].endswith("-config-reader")
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "airflow-worker", "namespace": "airflow"}
    ]


def test_a_default_spec_runs_as_the_service_accounts_the_chart_creates(chart):
    """Stage pods as the pipeline's ServiceAccount; Spark drivers as the one whose Role may create executor pods."""
    spec = PipelineSpec()
    objects = render(chart, {"jobNamespace": "jobs"})
    accounts = {
        (sa["metadata"]["namespace"], sa["metadata"]["name"]) for sa in _kinds(objects, "ServiceAccount")
    }
    assert ("jobs", spec.execution.service_account_name) in accounts
    assert ("jobs", spec.spark.service_account_name) in accounts
    roles = {r["metadata"]["name"]: r for r in _kinds(objects, "Role")}
    may_create_pods = {
        (subject["namespace"], subject["name"])
        for binding in _kinds(objects, "RoleBinding")
        if binding["metadata"]["namespace"] == "jobs"
        and ("", "pods", "create") in _rules(roles[binding["roleRef"]["name"]])
        for subject in binding["subjects"]
    }
    assert ("jobs", spec.spark.service_account_name) in may_create_pods


def test_network_policies_open_nothing_to_the_whole_internet(rendered):
    _, objects = rendered
    text = json.dumps(_kinds(objects, "NetworkPolicy"))
    assert "0.0.0.0/0" not in text and "::/0" not in text
    for policy in _kinds(objects, "NetworkPolicy"):
        if policy["metadata"]["name"].endswith("-operator"):
            assert policy["spec"]["ingress"] == []
            assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_api_server_cidrs_narrow_the_operator_egress(chart):
    objects = render(chart, {"networkPolicy": {"apiServerCidrs": ["172.16.0.0/28"]}})
    (policy,) = [p for p in _kinds(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-operator")]
    api_rule = next(r for r in policy["spec"]["egress"] if {"port": 443, "protocol": "TCP"} in r["ports"])
    assert api_rule["to"] == [{"ipBlock": {"cidr": "172.16.0.0/28"}}]


def _airflow_egress_ports(objects: list[dict]) -> list[int]:
    (policy,) = [p for p in _kinds(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-operator")]
    to_airflow = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "airflow"}}}
    return [
        port["port"]
        for rule in policy["spec"]["egress"]
        if rule.get("to") == [to_airflow]
        for port in rule["ports"]
    ]


def test_operator_egress_to_airflow_is_the_api_server_pods_port_not_the_urls(chart):
    """A NetworkPolicy matches the pod a Service forwards to: the URL's port (none in an https URL, a
    Service port 80 in front of 8080) is not the one to open."""
    overlay = yaml.safe_load((ROOT / "charts" / "airflow-values.yaml").read_text())
    assert _airflow_egress_ports(render(chart, {})) == [overlay["ports"]["apiServer"]]
    for url in ("https://airflow-api.airflow.svc", "http://airflow-api.airflow.svc:80/api"):
        assert _airflow_egress_ports(render(chart, {"operator": {"airflow": {"apiUrl": url}}})) == [8080]
    custom = {"operator": {"airflow": {"apiUrl": "https://airflow-api.airflow.svc", "apiServerPort": 9443}}}
    assert _airflow_egress_ports(render(chart, custom)) == [9443]


def test_images_come_from_the_registry_with_the_release_tag(chart):
    objects = render(chart, {"image": {"registry": "europe-west1-docker.pkg.dev/p/grocery", "tag": "9.9.9"}})
    (deploy,) = _kinds(objects, "Deployment")
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "europe-west1-docker.pkg.dev/p/grocery/grocery-pipeline-operator:9.9.9"
    default = _kinds(render(chart, {}), "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert default == f"grocery-pipeline-operator:{chart.metadata['appVersion']}"


def test_pipelines_without_images_run_the_release_images(chart):
    # The operator fills a pipeline's missing images with its own settings: the release's images,
    # whether the pipeline came with the chart or from kubectl.
    registry = "europe-west1-docker.pkg.dev/p/grocery"
    pinned = {"execution": {"image": "elsewhere/pipeline:7"}, "spark": {"image": "elsewhere/spark:7"}}
    daily = {
        "lake": "gs://grocery-lake/daily",
        "warehouse": {"kind": "bigquery", "project": "grocery-prod-1234"},
        "execution": {"mode": "kubernetes"},
    }
    values = {
        "image": {"registry": registry, "tag": "9.9.9"},
        "pipelines": [
            {"name": "daily", "spec": daily},
            {"name": "pinned", "spec": pinned},
        ],
    }
    objects = render(chart, values)
    (deploy,) = _kinds(objects, "Deployment")
    env = {e["name"]: e.get("value") for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["GROCERY_PIPELINE_IMAGE"], env["GROCERY_SPARK_IMAGE"]) == (
        f"{registry}/grocery-pipeline:9.9.9",
        f"{registry}/grocery-pipeline-spark:9.9.9",
    )
    rendered, kept = _kinds(objects, "GroceryPipeline")
    assert rendered["spec"] == daily and kept["spec"] == pinned


def test_example_pipelines_are_valid(chart):
    from grocery.config import parse_spec

    pipelines = _kinds(render(chart, VALUE_SETS["everything-on"]), "GroceryPipeline")
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pipelines] == [
        ("grocery-jobs", "daily"),
        ("team-a", "big"),
    ]
    validator = None
    if CRD.exists():
        import jsonschema

        crd = yaml.safe_load(CRD.read_text())
        version = next(v for v in crd["spec"]["versions"] if v["storage"])
        assert pipelines[0]["apiVersion"] == f"{crd['spec']['group']}/{version['name']}"
        validator = jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])
    for pipeline in pipelines:
        parse_spec(pipeline["spec"], origin=pipeline["metadata"]["name"])
        if validator is not None:
            validator.validate({k: v for k, v in pipeline.items() if k != "metadata"})


def test_crd_ships_in_crds_folder_once_written():
    if not CRD.exists():
        pytest.skip("the CRD (the operator's) is not written yet")
    (crd,) = load_all(CRD.read_text())
    kubernetes_validate.validate(crd, KUBE_VERSION, strict=True)
    assert crd["spec"]["group"] == "grocery.io"
    assert crd["spec"]["names"]["kind"] == "GroceryPipeline"
    assert crd["spec"]["names"]["plural"] == "grocerypipelines"
    assert any(v.get("subresources", {}).get("status") is not None for v in crd["spec"]["versions"])


BAD_VALUES = [
    ({"operator": {"replicas": 2}}, "/operator", "replicas"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "one of"),
    ({"livy": {"port": "http"}}, "/livy/port", "want integer"),
    ({"operator": {"logLevel": "loud"}}, "/operator/logLevel", "one of"),
    ({"jobNamespace": "Bad_Namespace"}, "/jobNamespace", "pattern"),
    ({"operator": {"watchNamespaces": "grocery"}}, "/operator/watchNamespaces", "want array"),
    (
        {"operator": {"resources": {"requests": {"cpu": "lots", "memory": "1Gi"}}}},
        "/operator/resources/requests/cpu",
        "",
    ),
    (
        {"pipeline": {"serviceAccount": {"gcpServiceAccount": "not-an-email"}}},
        "/pipeline/serviceAccount/gcpServiceAccount",
        "",
    ),
    ({"networkPolicy": {"apiServerCidrs": ["0.0.0.0/0"]}}, "/networkPolicy/apiServerCidrs/0", ""),
    ({"operator": {"airflow": {"apiServerPort": "8080"}}}, "/operator/airflow/apiServerPort", "want integer"),
    ({"operator": {"settings": {"watchTimeout": 0}}}, "/operator/settings/watchTimeout", ""),
    ({"operator": {"settings": {"pollEvery": 5}}}, "/operator/settings", "pollEvery"),
    ({"livy": {"sparkConf": {"executor.memory": "4g"}}}, "/livy/sparkConf", "executor.memory"),
    ({"pipelines": [{"spec": {}}]}, "/pipelines/0", "name"),
    ({"pipelines": [{"name": "Daily"}]}, "/pipelines/0/name", "pattern"),
    ({"unknownTopLevel": True}, "", "unknownTopLevel"),
]


@pytest.mark.parametrize(("values", "path", "words"), BAD_VALUES, ids=[p or "top" for _, p, _ in BAD_VALUES])
def test_schema_refuses_bad_values_naming_the_path(chart, values, path, words):
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart.validate_schema(values)
    message = str(refused.value)
    assert f"at '{path or '/'}'" in message or (not path and "at ''" in message), message
    assert words in message


def test_render_refuses_bad_values_too(chart):
    with pytest.raises(helm_python.HelmValuesError, match="/livy/port"):
        chart.render({"livy": {"port": "http"}}, name="grocery-pipeline", namespace="grocery")


def test_every_value_has_a_one_line_comment():
    lines = (CHART / "values.yaml").read_text().splitlines()
    inside_resources = None  # indentation of a `resources:` block: Kubernetes' own format, not ours
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][A-Za-z0-9]*):", line)
        if not match:
            continue  # list items, comments and blank lines
        indent = len(match.group(1))
        previous_line = lines[number - 1] if number else ""
        if (
            previous_line.lstrip().startswith("- ")
            and indent == len(previous_line) - len(previous_line.lstrip()) + 2
        ):
            continue  # a further key of a list item, e.g. {name, namespace}
        if inside_resources is not None and indent > inside_resources:
            continue
        inside_resources = indent if match.group(2) == "resources" else None
        previous = lines[number - 1].strip() if number else ""
        assert previous.startswith("#"), (
            f"values.yaml line {number + 1}: {match.group(2)} has no comment above"
        )
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", match.group(2)), f"{match.group(2)} is not camelCase"


def test_every_value_is_declared_in_the_schema(chart):
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(values: dict, node: dict, path: str) -> None:
        for key, value in values.items():
            assert key in node.get("properties", {}), f"{path}/{key} is missing from values.schema.json"
            child = node["properties"][key]
            if isinstance(value, dict) and child.get("properties"):
                walk(value, child, f"{path}/{key}")

    walk(chart.values, schema, "")


def test_app_version_is_the_project_version(chart):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart.metadata["appVersion"] == project
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", chart.metadata["version"])


def test_airflow_overlay_wires_the_official_chart_to_the_pipeline():
    overlay = yaml.safe_load((ROOT / "charts" / "airflow-values.yaml").read_text())
    assert overlay["executor"] == "KubernetesExecutor"
    git = overlay["dags"]["gitSync"]
    assert git["enabled"] is True and git["subPath"] == "dags" and git["repo"].startswith("https://")
    assert overlay["images"]["airflow"]["repository"].endswith("/grocery-pipeline-airflow")
    assert (ROOT / "images" / "airflow" / "Dockerfile").exists()
    for component in ("workers", "scheduler", "dagProcessor", "triggerer", "apiServer"):
        annotations = overlay[component]["serviceAccount"]["annotations"]
        assert annotations["iam.gke.io/gcp-service-account"].startswith("grocery-airflow@")
    # The worker ServiceAccount is the one the grocery chart grants a Role in the job namespace.
    worker = overlay["workers"]["serviceAccount"]["name"]
    assert {"name": worker, "namespace": "airflow"} in yaml.safe_load((CHART / "values.yaml").read_text())[
        "airflow"
    ]["serviceAccounts"]
    assert (
        overlay["apiServer"]["service"]["type"] == "ClusterIP"
        and overlay["ingress"]["apiServer"]["enabled"] is False
    )
    assert overlay["securityContexts"]["pod"]["runAsNonRoot"] is True
    assert overlay["securityContexts"]["containers"]["capabilities"]["drop"] == ["ALL"]


def test_airflows_livy_connection_names_the_livy_service_the_chart_renders(chart):
    """livy tasks use the connection LIVY_CONN_ID: Airflow's environment points it at dev's Livy Service."""
    from urllib.parse import urlsplit

    from grocery import deploy

    factory = pytest.importorskip("grocery.airflow.factory")
    overlay = yaml.safe_load((ROOT / "charts" / "airflow-values.yaml").read_text())
    env = {e["name"]: e["value"] for e in overlay["env"]}
    url = urlsplit(env[f"AIRFLOW_CONN_{factory.LIVY_CONN_ID.upper()}"])

    plan = deploy.plan("dev")
    assert plan.release == "grocery-pipeline"  # the release render() names
    services = _kinds(render(chart, plan.values, plan.namespace), "Service")
    [livy] = [s for s in services if s["metadata"]["name"].endswith("-livy")]
    assert url.scheme == "livy"
    assert url.hostname == f"{livy['metadata']['name']}.{livy['metadata']['namespace']}.svc.cluster.local"
    assert url.port == livy["spec"]["ports"][0]["port"]


def test_airflow_collects_the_operators_pipeline_configmaps(chart):
    """Operator -> ConfigMap (label, namespace) -> Airflow's sidecar -> a DAG bundle: every link agrees."""
    from grocery.operator.resources import CONFIG_LABEL

    overlay = yaml.safe_load((ROOT / "charts" / "airflow-values.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    config_ns = values["operator"]["configNamespace"]
    bundles = json.loads(overlay["config"]["dag_processor"]["dag_bundle_config_list"])
    pipelines_bundle = next(b for b in bundles if b["name"] == "grocery-pipelines")
    for collector in (
        overlay["dagProcessor"]["extraContainers"][0],
        overlay["workers"]["extraInitContainers"][0],
    ):
        env = {e["name"]: e["value"] for e in collector["env"]}
        assert env["LABEL"] == CONFIG_LABEL and env["LABEL_VALUE"] == "true"
        assert env["NAMESPACE"] == config_ns
        assert env["FOLDER"] == pipelines_bundle["kwargs"]["path"]
    assert overlay["workers"]["extraInitContainers"][0]["env"][-1] == {"name": "METHOD", "value": "LIST"}
    objects = render(chart)
    (role,) = [
        o for o in objects if o["kind"] == "Role" and o["metadata"]["name"].endswith("pipeline-config-reader")
    ]
    assert role["metadata"]["namespace"] == config_ns
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
    ]
    (binding,) = [
        o for o in objects if o["kind"] == "RoleBinding" and o["metadata"]["name"] == role["metadata"]["name"]
    ]
    readers = {(s["name"], s["namespace"]) for s in binding["subjects"]}
    assert {
        (overlay["dagProcessor"]["serviceAccount"]["name"], "airflow"),
        ("airflow-worker", "airflow"),
    } <= readers
