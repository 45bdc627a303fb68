"""Checks of the Kubernetes manifests in deploy/kubernetes, offline (no cluster, no network).

What they prove: every document is a valid Kubernetes object, strictly (an unknown or misspelt field
fails), against the newest schemas kubernetes-validate ships; kustomization.yaml lists exactly the
manifest files; every command is a console script of the workspace with real subcommands; every
COURIER_* variable is one courier reads and the values load; probes ask real routes on the ports the
processes listen on; Services, PodDisruptionBudgets and the HorizontalPodAutoscaler find the pods they
mean; pods get longer to stop than courier's shutdown timeout.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import typer.main
import yaml
from prometheus_client import CollectorRegistry

from courier_adapters.settings import Settings, load_settings, variables
from courier_http.auth import parse_tokens
from courier_http.ops import OperationalApi, operations

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "deploy/kubernetes"
NAMESPACE = "courier"
COURIER_IMAGE = "courier:local"  # docker-compose.yml's image
# The newest Kubernetes schemas the installed kubernetes-validate bundles (1.37.0 with its 1.37.0).
KUBERNETES_VERSION = kubernetes_validate.latest_version()
CLUSTER_SCOPED = {"Namespace"}
WORKLOADS = {"Deployment", "Job"}

Document = dict[str, Any]


def manifest_files() -> list[Path]:
    return sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")


def load_documents() -> list[tuple[str, Document]]:
    return [
        (path.name, doc)
        for path in manifest_files()
        for doc in yaml.safe_load_all(path.read_text())
        if doc  # an empty document between `---`
    ]


DOCUMENTS = load_documents()


def of_kind(kind: str) -> list[Document]:
    return [doc for _, doc in DOCUMENTS if doc["kind"] == kind]


def one(kind: str, name: str) -> Document:
    found = [doc for doc in of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def workloads() -> list[Document]:
    return [doc for _, doc in DOCUMENTS if doc["kind"] in WORKLOADS]


def pod_spec(workload: Document) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Document) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def containers(workload: Document) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    found: list[dict[str, Any]] = spec["containers"] + spec.get("initContainers", [])
    return found


def courier_containers() -> Iterator[tuple[Document, dict[str, Any]]]:
    for workload in workloads():
        for container in containers(workload):
            if container["image"] == COURIER_IMAGE:
                yield workload, container


def argv(container: dict[str, Any]) -> list[str]:
    words: list[str] = [*container.get("command", []), *container.get("args", [])]
    return words


def courier_workload(script: str) -> tuple[Document, dict[str, Any]]:
    found = [(w, c) for w, c in courier_containers() if argv(c)[:1] == [script]]
    assert len(found) == 1, f"{len(found)} containers run {script}"
    return found[0]


def selects(selector: dict[str, str], workload: Document) -> bool:
    return bool(selector) and selector.items() <= pod_labels(workload).items()


def deployments_selected_by(selector: dict[str, str]) -> list[str]:
    return [d["metadata"]["name"] for d in of_kind("Deployment") if selects(selector, d)]


def console_scripts() -> set[str]:
    scripts: set[str] = set()
    for pyproject in ROOT.glob("apps/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {}))
    return scripts


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """The variables the container gets: envFrom first, then env (which wins), as Kubernetes does."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= one("ConfigMap", source["configMapRef"]["name"]).get("data", {})
        if "secretRef" in source:
            env |= secret_values(one("Secret", source["secretRef"]["name"]))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            values = secret_values(one("Secret", ref["secretKeyRef"]["name"]))
            key = ref["secretKeyRef"]["key"]
        else:
            values = one("ConfigMap", ref["configMapKeyRef"]["name"]).get("data", {})
            key = ref["configMapKeyRef"]["key"]
        assert key in values, f"{item['name']} refers to the missing key {key}"
        env[item["name"]] = values[key]
    return env


def secret_values(secret: Document) -> dict[str, str]:
    assert "data" not in secret, "the example Secret uses stringData (readable placeholders)"
    values: dict[str, str] = secret.get("stringData", {})
    return values


def container_settings(container: dict[str, Any]) -> Settings:
    env = container_env(container)
    return load_settings({k: v for k, v in env.items() if k.startswith("COURIER_")}, dotenv=None)


def named_ports(container: dict[str, Any]) -> dict[str | int, int]:
    """``port:`` values a probe or Service may use (a name or the number) → the container port."""
    ports: dict[str | int, int] = {}
    for port in container.get("ports", []):
        ports[port["containerPort"]] = port["containerPort"]
        if "name" in port:
            ports[port["name"]] = port["containerPort"]
    return ports


def api_routes() -> set[str]:
    class NoProbes:
        database = None
        collector = None

    api = OperationalApi(NoProbes(), scrape=CollectorRegistry(), document=dict)
    return {op.path for op in operations(api) if op.method == "GET"}


def consumer_routes() -> set[str]:
    source = (ROOT / "apps/consumer/src/courier_consumer/telemetry.py").read_text()
    return set(re.findall(r'self\.path\.split\("\?"\)\[0\] == "(/[\w/-]*)"', source))


# What each long-running command serves: its GET routes and the setting of the port it listens on.
SERVERS: dict[str, tuple[Callable[[], set[str]], Callable[[Settings], int]]] = {
    "courier-api": (api_routes, lambda s: s.http_port),
    "courier-consumer": (consumer_routes, lambda s: s.metrics_port),
}


def pre_stop_sleep(container: dict[str, Any]) -> float:
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return float(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        return float(command[1])
    assert not pre_stop, f"unrecognised preStop hook {pre_stop}"
    return 0.0


def dockerfile_uid() -> int:
    found = re.search(r"useradd .*--uid (\d+)", (ROOT / "Dockerfile").read_text())
    assert found, "no useradd --uid in the Dockerfile"
    return int(found.group(1))


@pytest.mark.parametrize(
    "document",
    [doc for _, doc in DOCUMENTS],
    ids=[f"{file}:{doc['kind']}/{doc['metadata']['name']}" for file, doc in DOCUMENTS],
)
def test_every_document_is_a_valid_kubernetes_object(document: Document) -> None:
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        return
    except kubernetes_validate.ValidationError as exc:  # the whole schema in the traceback otherwise
        error = f"{'.'.join(str(p) for p in exc.path) or '(root)'}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        error = exc.message
    pytest.fail(error, pytrace=False)


def test_the_kustomization_lists_exactly_the_manifests() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == NAMESPACE
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a manifest is listed twice"
    assert set(resources) == {p.name for p in manifest_files()}


def test_everything_lives_in_the_courier_namespace() -> None:
    assert [ns["metadata"]["name"] for ns in of_kind("Namespace")] == [NAMESPACE]
    for file, doc in DOCUMENTS:
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{file}: {doc['metadata']['name']}"


def test_every_command_is_a_console_script_with_real_subcommands() -> None:
    from courier_cli.main import app  # the `courier` command's typer app

    scripts = console_scripts()
    cli = typer.main.get_command(app)
    runs = [argv(container) for _, container in courier_containers()]
    assert {words[0] for words in runs} >= {"courier-api", "courier-consumer", "courier"}
    for words in runs:
        assert words[0] in scripts, f"{words[0]} is not a console script of the workspace"
        if words[0] != "courier":
            assert words[1:] == [], f"{words[0]} takes its configuration from COURIER_*, not arguments"
            continue
        command: Any = cli
        for word in (w for w in words[1:] if not w.startswith("-")):
            subcommands = getattr(command, "commands", None)
            assert subcommands is not None and word in subcommands, f"no `{' '.join(words)}`"
            command = subcommands[word]
        assert not hasattr(command, "commands"), f"`{' '.join(words)}` is a group, not a command"


def test_every_courier_variable_is_a_setting_and_the_values_load() -> None:
    known = set(variables())
    for config_map in of_kind("ConfigMap"):
        names = set(config_map.get("data", {}))
        assert names, f"empty ConfigMap {config_map['metadata']['name']}"
        assert names <= known, f"{config_map['metadata']['name']}: not settings: {names - known}"
    for secret in of_kind("Secret"):
        names = set(secret_values(secret))
        assert names <= known, f"{secret['metadata']['name']}: not settings: {names - known}"
    for workload, container in courier_containers():
        env = container_env(container)
        unknown = {k for k in env if k.startswith("COURIER_")} - known
        assert not unknown, f"{workload['metadata']['name']} sets variables courier does not read: {unknown}"
        settings = container_settings(container)  # raises, naming the variable, when malformed
        assert settings.database_url, "PostgreSQL is external: COURIER_DATABASE_URL comes from the Secret"
        assert not settings.should_migrate_on_start, "the migration Job migrates, not the apps"
    api_settings = container_settings(courier_workload("courier-api")[1])
    assert parse_tokens(api_settings.api_tokens), "COURIER_API_TOKENS of the example is malformed"
    assert api_settings.http_workers == 2


def test_the_example_secret_holds_only_placeholders() -> None:
    for secret in of_kind("Secret"):
        for name, value in secret_values(secret).items():
            assert "REPLACE_ME" in value, f"{name} looks like a real value: keep placeholders"


def test_probes_ask_real_routes_on_the_port_the_process_listens_on() -> None:
    probed: dict[str, dict[str, str]] = {}
    for _, container in courier_containers():
        script = argv(container)[0]
        if script not in SERVERS:
            continue
        routes, port_of = SERVERS[script]
        settings = container_settings(container)
        assert settings.http_host in ("0.0.0.0", "::"), f"{script} listens on loopback only"
        ports = named_ports(container)
        assert set(ports.values()) == {port_of(settings)}, f"{script}: containerPort is not where it listens"
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            if kind not in container:
                continue
            get = container[kind]["httpGet"]
            assert get["path"].split("?")[0] in routes(), f"{script} {kind}: no route {get['path']}"
            assert ports.get(get["port"]) == port_of(settings), f"{script} {kind}: wrong port {get['port']}"
            probed.setdefault(script, {})[kind] = get["path"]
    assert probed["courier-api"]["readinessProbe"] == "/readyz"
    assert probed["courier-api"]["livenessProbe"] == "/ping"
    assert probed["courier-consumer"]["readinessProbe"] == "/readyz"


def test_services_select_one_deployment_and_target_its_ports() -> None:
    for service in of_kind("Service"):
        name = service["metadata"]["name"]
        matched = deployments_selected_by(service["spec"].get("selector", {}))
        assert len(matched) == 1, f"Service {name} selects {matched}"
        deployment = one("Deployment", matched[0])
        ports: dict[str | int, int] = {}
        for container in containers(deployment):
            ports |= named_ports(container)
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports, f"Service {name}: {deployment['metadata']['name']} has no port {target}"


def test_deployments_own_their_pods_alone() -> None:
    for deployment in of_kind("Deployment"):
        name = deployment["metadata"]["name"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert deployments_selected_by(selector) == [name], f"{name}'s selector overlaps another's pods"


def test_the_hpa_scales_the_api_deployment_on_cpu() -> None:
    api, container = courier_workload("courier-api")
    (hpa,) = of_kind("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        api["metadata"]["name"],
    )
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"] == ["cpu"]
    assert "cpu" in container["resources"]["requests"], "CPU utilisation is measured against the request"
    assert "replicas" not in api["spec"], "the HPA owns the API's replica count"


def test_disruption_budgets_select_the_pods_and_leave_one_up() -> None:
    api, _ = courier_workload("courier-api")
    covered = []
    for pdb in of_kind("PodDisruptionBudget"):
        matched = deployments_selected_by(pdb["spec"]["selector"]["matchLabels"])
        assert len(matched) == 1, f"PodDisruptionBudget {pdb['metadata']['name']} selects {matched}"
        assert pdb["spec"].get("minAvailable") == 1 or pdb["spec"].get("maxUnavailable") == 1
        covered += matched
    assert api["metadata"]["name"] in covered


def test_pods_get_longer_to_stop_than_the_shutdown_timeout() -> None:
    for workload, container in courier_containers():
        if workload["kind"] != "Deployment":
            continue
        settings = container_settings(container)
        grace = pod_spec(workload).get("terminationGracePeriodSeconds", 30)
        # The grace period counts from the start of the preStop hook.
        needed = pre_stop_sleep(container) + settings.shutdown_timeout
        assert grace > needed, f"{workload['metadata']['name']}: {grace}s is not more than {needed}s"
    _, api = courier_workload("courier-api")
    assert pre_stop_sleep(api) > 0, "the API keeps serving while its endpoint is removed"


def test_containers_run_unprivileged_with_resources() -> None:
    courier_pods = {id(w) for w, _ in courier_containers()}
    for workload in workloads():
        pod = pod_spec(workload).get("securityContext", {})
        if id(workload) in courier_pods:
            assert pod.get("runAsUser") == dockerfile_uid(), "the image's courier user"
        for container in containers(workload):
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container.get("securityContext", {})
            assert security.get("runAsNonRoot", pod.get("runAsNonRoot")) is True, where
            assert security.get("allowPrivilegeEscalation") is False, where
            assert security.get("readOnlyRootFilesystem") is True, where
            assert security.get("capabilities", {}).get("drop") == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert "memory" in container["resources"]["limits"], where


def test_the_migration_job_runs_once_and_cleans_up() -> None:
    job, _ = courier_workload("courier")
    assert job["kind"] == "Job"
    assert argv(courier_workload("courier")[1]) == ["courier", "db", "upgrade"]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")


def test_the_rate_limit_redis_is_a_service_of_the_manifests() -> None:
    settings = container_settings(courier_workload("courier-api")[1])
    assert settings.rate_limit_redis_url, "the API replicas must share one rate limit"
    url = urlsplit(settings.rate_limit_redis_url)
    service = one("Service", str(url.hostname))
    assert (url.port or 6379) in {p["port"] for p in service["spec"]["ports"]}
    consumer = one("Deployment", "courier-consumer")
    assert consumer["spec"]["replicas"] == 2, "the consumer group shares partitions between two"
