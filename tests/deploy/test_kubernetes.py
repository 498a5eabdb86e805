"""deploy/kubernetes: valid for the Kubernetes API (offline, strict) and complete for the services.

kubernetes-validate checks each resource against the JSON Schema of the pinned Kubernetes
version's API, rejecting unknown fields. The applied set is what kustomization.yaml lists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError
from pydantic_settings import BaseSettings

from libs.events.catalogue import ALL_SERVICES
from libs.platform.settings import Settings
from services.billing.settings import BillingSettings
from services.calendar.settings import CalendarSettings
from services.calls.settings import CallsSettings
from services.inbox.settings import InboxSettings
from services.notify.settings import NotifySettings
from services.routing.settings import RoutingSettings
from tests.support.processes import ROOT
from tests.support.settings_env import read_settings

KUBERNETES_VERSION = "1.37.0"
MANIFESTS = ROOT / "deploy" / "kubernetes"
SECRET_TEMPLATE = "secret.example.yaml"
SECRET_NAME = "frontdesk-secrets"
APP_PORT = 8000
SMTP_PORT = 2525  # the inbox's inbound listener in its pods

Resource = dict[str, Any]

# What each service cannot run properly without (beyond what has a usable default).
NEEDED = {"FRONTDESK_SERVICE", "DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
NEEDED |= {"FRONTDESK_HTTP_HOST", "FRONTDESK_HTTP_PORT"}
NEEDED_BY = {
    "routing": {"FRONTDESK_ROUTING_ACK_SECRET", "FRONTDESK_ROUTING_PUBLIC_BASE_URL"},
    "notify": {"FRONTDESK_NOTIFY_SMTP_HOST", "FRONTDESK_NOTIFY_SMTP_PORT"},
    "calendar": {"FRONTDESK_SECRET_KEYS"},
    "inbox": {
        "FRONTDESK_SECRET_KEYS",
        "FRONTDESK_INBOX_SMTP_HOST",
        "FRONTDESK_INBOX_SMTP_PORT",
        "FRONTDESK_INBOX_RELAY_HOST",
        "FRONTDESK_INBOX_RELAY_PORT",
    },
}
# Container ports besides http: the inbox's SMTP listener for forwarded mail.
EXTRA_PORTS = {"inbox": [{"name": "smtp", "containerPort": SMTP_PORT}]}
# The one Service outside the cluster: SMTP on port 25 (the MX) to the inbox's listener.
SMTP_SERVICE = "inbox-smtp"
SETTINGS: dict[str, type[BaseSettings]] = {
    "calls": CallsSettings,
    "routing": RoutingSettings,
    "notify": NotifySettings,
    "billing": BillingSettings,
    "calendar": CalendarSettings,
    "inbox": InboxSettings,
}


def load(path: Path) -> list[Resource]:
    """The YAML documents of a file (empty ones left out)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def kustomization() -> Resource:
    """deploy/kubernetes/kustomization.yaml."""
    (found,) = load(MANIFESTS / "kustomization.yaml")
    return found


@cache
def applied() -> tuple[Resource, ...]:
    """Every resource `kubectl apply -k deploy/kubernetes` creates, as written."""
    return tuple(doc for name in kustomization()["resources"] for doc in load(MANIFESTS / name))


def of_kind(kind: str) -> list[Resource]:
    """The applied resources of one kind."""
    return [r for r in applied() if r["kind"] == kind]


def named(kind: str, name: str) -> Resource:
    """The applied resource of a kind with a name."""
    (found,) = [r for r in of_kind(kind) if r["metadata"]["name"] == name]
    return found


def resource_id(resource: Resource) -> str:
    """kind/name, as kubectl shows it."""
    return f"{resource['kind'].lower()}/{resource['metadata']['name']}"


def every_file_resource() -> list[Any]:
    """Each resource of every manifest, the secret template included, as a test parameter."""
    files = sorted(MANIFESTS.glob("*.yaml"))
    return [
        pytest.param(doc, id=f"{path.name}:{resource_id(doc)}")
        for path in files
        if path.name != "kustomization.yaml"
        for doc in load(path)
    ]


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    """Each manifest is listed once; the template with placeholder secrets is not."""
    listed = kustomization()["resources"]
    on_disk = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(listed) == sorted(set(listed))
    assert set(listed) == on_disk - {SECRET_TEMPLATE}
    assert [i["name"] for i in kustomization()["images"]] == ["frontdesk"]


@pytest.mark.parametrize("resource", every_file_resource())
def test_every_resource_is_valid_for_the_kubernetes_api(resource: Resource) -> None:
    """Strict schema validation: known kinds and fields only, values of the right types."""
    try:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        pytest.fail(f"{resource_id(resource)}: {path}: {exc.message}")
    except SchemaNotFoundError as exc:
        pytest.fail(exc.message)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda c: c.update(readinesProbe=c.pop("readinessProbe")), id="misspelt"),
        pytest.param(lambda c: c["ports"][0].update(containerPort="8000"), id="number-as-text"),
        pytest.param(lambda c: c.pop("name"), id="required-field-missing"),
    ],
)
def test_the_validation_rejects_a_broken_deployment(change: Callable[[Resource], object]) -> None:
    """The check above is no formality: a Deployment broken in any of these ways fails it."""
    broken = copy.deepcopy(named("Deployment", "calls"))
    change(broken["spec"]["template"]["spec"]["containers"][0])
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_one_deployment_and_service_per_frontdesk_service() -> None:
    """Each runs the one image with its FRONTDESK_SERVICE, behind a Service on its pods."""
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    assert set(deployments) == {*ALL_SERVICES, "console"}
    for name, deployment in deployments.items():
        if name == "console":
            continue
        (container,) = pod_spec(deployment)["containers"]
        assert container["image"] == "frontdesk"
        assert {"name": "FRONTDESK_SERVICE", "value": name} in container["env"]
        service = named("Service", name)
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["ports"] == [
            {"name": "http", "port": APP_PORT, "targetPort": "http"}
        ]


@pytest.mark.parametrize("name", ALL_SERVICES)
def test_every_deployment_probes_its_health_and_is_scraped(name: str) -> None:
    """Readiness on /health/ready, liveness and start-up on /health/live; scraped on /metrics."""
    template = named("Deployment", name)["spec"]["template"]
    (container,) = template["spec"]["containers"]
    http = {"name": "http", "containerPort": APP_PORT}
    assert container["ports"] == [http, *EXTRA_PORTS.get(name, [])]
    assert probe_path(container, "readinessProbe") == "/health/ready"
    assert probe_path(container, "livenessProbe") == "/health/live"
    assert probe_path(container, "startupProbe") == "/health/live"
    assert set(container["resources"]) == {"requests", "limits"}
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(APP_PORT),
        "prometheus.io/path": "/metrics",
    }


def test_every_pod_runs_as_the_image_user_without_privileges() -> None:
    """The Dockerfile's uid, non-root, read-only root file system, no capabilities."""
    uid = image_uid()
    for owner in [*of_kind("Deployment"), *of_kind("Job")]:
        spec = pod_spec(owner)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == uid
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            }


@pytest.mark.parametrize("name", ALL_SERVICES)
def test_every_variable_a_service_needs_is_given_and_valid(name: str) -> None:
    """Its environment has what it needs and makes valid settings (secrets: the template's)."""
    env = container_environment(named("Deployment", name))
    assert NEEDED | NEEDED_BY.get(name, set()) <= set(env)
    settings = read_settings(Settings, env)
    assert (settings.service, settings.port, settings.http_host) == (name, APP_PORT, "0.0.0.0")
    if name in SETTINGS:
        read_settings(SETTINGS[name], env)


def test_the_inbox_listens_for_mail_on_every_pod_address_and_replies_by_the_relay() -> None:
    """Its listener on 0.0.0.0 at the smtp container port; the relay is the ConfigMap's."""
    env = container_environment(named("Deployment", "inbox"))
    inbox = read_settings(InboxSettings, env)
    assert (inbox.smtp_host, inbox.smtp_port) == ("0.0.0.0", SMTP_PORT)
    config = named("ConfigMap", "frontdesk-config")["data"]
    assert (inbox.relay_host, str(inbox.relay_port)) == (
        config["FRONTDESK_INBOX_RELAY_HOST"],
        config["FRONTDESK_INBOX_RELAY_PORT"],
    )
    assert inbox.relay_password is not None  # from the Secret (the template's placeholder)


def test_secrets_come_from_the_secret_by_reference_and_are_not_applied() -> None:
    """Secret values are referenced by name and key; no Secret is part of the applied set."""
    assert of_kind("Secret") == []
    (template,) = load(MANIFESTS / SECRET_TEMPLATE)
    keys = set(template["stringData"])
    for deployment in of_kind("Deployment"):
        (container,) = pod_spec(deployment)["containers"]
        for variable in container["env"]:
            if "configMapKeyRef" in variable.get("valueFrom", {}):
                assert not re.search("SECRET|PASSWORD|TOKEN|DATABASE_URL", variable["name"])
            elif "valueFrom" in variable:
                ref = variable["valueFrom"]["secretKeyRef"]
                assert (ref["name"], ref["key"]) == (SECRET_NAME, variable["name"])
                assert ref["key"] in keys
            else:
                assert not re.search("SECRET|PASSWORD|TOKEN|DATABASE_URL", variable["name"])
    config = named("ConfigMap", "frontdesk-config")["data"]
    assert not [key for key in config if re.search("SECRET|PASSWORD|TOKEN|DATABASE_URL", key)]


def test_the_topics_job_creates_the_topics_on_the_services_kafka() -> None:
    """`frontdesk topics` with the same Kafka and topic prefix as the services."""
    (job,) = of_kind("Job")
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["frontdesk", "topics"]
    assert container["envFrom"] == [{"configMapRef": {"name": "frontdesk-config"}}]
    assert pod_spec(job)["restartPolicy"] == "OnFailure"


def test_every_scaled_deployment_keeps_an_instance_through_disruptions() -> None:
    """A PodDisruptionBudget for each Deployment of more than one replica."""
    budgets = {b["metadata"]["name"]: b for b in of_kind("PodDisruptionBudget")}
    for deployment in of_kind("Deployment"):
        name, replicas = deployment["metadata"]["name"], deployment["spec"]["replicas"]
        if replicas > 1:
            spec = budgets[name]["spec"]
            assert spec["selector"] == deployment["spec"]["selector"]
            assert 1 <= spec["minAvailable"] < replicas


def test_everything_lives_in_the_namespace_of_the_kustomization() -> None:
    """The Namespace exists and every other resource names it."""
    namespace = kustomization()["namespace"]
    assert [n["metadata"]["name"] for n in of_kind("Namespace")] == [namespace]
    for resource in applied():
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace, resource_id(resource)


def test_an_ingress_terminates_tls_in_front_of_every_service() -> None:
    """One host per service, each covered by the TLS section, each to its Service's port."""
    ingress = named("Ingress", "frontdesk")
    (tls,) = ingress["spec"]["tls"]
    assert tls["secretName"]
    backends = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls["hosts"], rule["host"]
        (path,) = rule["http"]["paths"]
        assert (path["path"], path["pathType"]) == ("/", "Prefix")
        backends[rule["host"]] = path["backend"]["service"]
    assert {b["name"] for b in backends.values()} == set(ALL_SERVICES)
    for backend in backends.values():
        ports = named("Service", backend["name"])["spec"]["ports"]
        assert backend["port"] == {"name": "http"}
        assert "http" in {p["name"] for p in ports}
    config = named("ConfigMap", "frontdesk-config")["data"]
    public = urlsplit(config["FRONTDESK_ROUTING_PUBLIC_BASE_URL"])
    assert public.scheme == "https"
    assert backends[public.hostname]["name"] == "routing"  # the ack links go through the Ingress


def test_the_console_serves_its_pages_and_every_api_on_one_origin() -> None:
    """The console's host: its pages on /, each service's API under /api/<service>/ (the
    prefix cut off), unbuffered so the live feed streams; it signs in at the services' issuer."""
    (container,) = pod_spec(named("Deployment", "console"))["containers"]
    assert container["command"] == ["python", "-m", "services.console"]
    env = {v["name"]: v for v in container["env"]}
    issuer = env["FRONTDESK_CONSOLE_ISSUER_URL"]["valueFrom"]["configMapKeyRef"]
    assert (issuer["name"], issuer["key"]) == ("frontdesk-config", "FRONTDESK_AUTH_ISSUER")
    pages, api = named("Ingress", "console"), named("Ingress", "console-api")
    (page_rule,) = pages["spec"]["rules"]
    (api_rule,) = api["spec"]["rules"]
    assert page_rule["host"] == api_rule["host"]
    (root,) = page_rule["http"]["paths"]
    assert (root["path"], root["backend"]["service"]["name"]) == ("/", "console")
    routes = {p["path"]: p["backend"]["service"]["name"] for p in api_rule["http"]["paths"]}
    assert routes == {f"/api/{name}(/|$)(.*)": name for name in ALL_SERVICES}
    notes = api["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    for ingress in (pages, api):
        (tls,) = ingress["spec"]["tls"]
        assert page_rule["host"] in tls["hosts"]


def test_no_service_is_exposed_around_the_ingress() -> None:
    """Every Service stays inside the cluster (ClusterIP) but the inbox's SMTP load balancer."""
    for service in of_kind("Service"):
        if service["metadata"]["name"] != SMTP_SERVICE:
            assert service["spec"].get("type", "ClusterIP") == "ClusterIP", resource_id(service)


def test_mail_reaches_the_inbox_on_port_25_and_nothing_else_does() -> None:
    """The MX's load balancer: port 25 to the inbox pods' smtp port, no other port, no pod else."""
    service = named("Service", SMTP_SERVICE)
    spec = service["spec"]
    assert spec["type"] == "LoadBalancer"
    assert spec["ports"] == [{"name": "smtp", "port": 25, "targetPort": "smtp"}]
    inbox = named("Deployment", "inbox")
    assert spec["selector"] == inbox["spec"]["selector"]["matchLabels"]
    assert spec["externalTrafficPolicy"] == "Local"  # the sender's address stays visible


def pod_spec(owner: Resource) -> Resource:
    """The pod template's spec of a Deployment or Job."""
    spec: Resource = owner["spec"]["template"]["spec"]
    return spec


def probe_path(container: Resource, probe: str) -> str:
    """The path of an HTTP probe on the container's http port."""
    get = container[probe]["httpGet"]
    assert get["port"] in ("http", APP_PORT)
    path: str = get["path"]
    return path


def container_environment(deployment: Resource) -> dict[str, str]:
    """The variables its container gets: ConfigMap, own values, the template's secrets."""
    (container,) = pod_spec(deployment)["containers"]
    (template,) = load(MANIFESTS / SECRET_TEMPLATE)
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env |= named("ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            env[variable["name"]] = template["stringData"][
                variable["valueFrom"]["secretKeyRef"]["key"]
            ]
    return env


def image_uid() -> int:
    """The numeric user the Dockerfile's image runs as."""
    match = re.search(r"^USER (\d+)(?::\d+)?$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the Dockerfile names its user by number"
    return int(match.group(1))
