"""The central stack's compose file, checked against the Compose Specification's JSON
schema (tests/thirdparty/compose_spec.json, from docker-compose 1.29.2 on PyPI, the
specification's reference implementation then), and its files present."""

from __future__ import annotations

import json

import jsonschema
import yaml

from tests.conftest import REPO

COMPOSE = REPO / "deploy" / "compose.yaml"
SCHEMA = REPO / "tests" / "thirdparty" / "compose_spec.json"


def test_the_compose_file_is_valid_compose_and_mounts_the_shipped_files() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)  # the draft the schema declares
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert problems == []
    default = {"mosquitto", "influxdb", "grafana", "collector", "proxy"}
    # Hot standby (profile ha): the database with its replica, and a second collector.
    ha = {"postgres", "postgres-replica", "collector-standby", "proxy-standby"}
    services = compose["services"]
    assert set(services) == default | ha
    assert {name for name, s in services.items() if "ha" in s.get("profiles", [])} == ha
    assert "synchronous_standby_names=*" in services["postgres"]["command"]
    assert services["proxy-standby"]["network_mode"] == "service:collector-standby"
    shipped = ["mosquitto.conf", "mosquitto.acl", "grafana/slawatch.json", "collector.Dockerfile"]
    shipped += ["nginx/slawatch.conf", "postgres/primary-init.sh", "postgres/replica.sh"]
    for name in shipped:
        assert (COMPOSE.parent / name).exists(), name
    mounts = [m for s in compose["services"].values() for m in s.get("volumes", [])]
    assert any(m.startswith("./mosquitto.acl:") for m in mounts)  # each agent its own topics
    # Secrets by file, never a value in the compose file.
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"}
    assert "PASSWORD:" not in COMPOSE.read_text(encoding="utf-8").replace("PASSWORD_FILE:", "")


def test_the_schema_catches_a_broken_compose_file() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    broken = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    broken["services"]["collector"]["restart_policy"] = "always"  # not a compose key
    assert list(validator.iter_errors(broken))


def test_the_example_settings_for_etc_slawatch_are_valid_settings() -> None:
    """Shape and types as the services read them (the paths exist on a deployed server)."""
    from slawatch.config.settings import AgentSettings, CollectorSettings

    etc = REPO / "deploy" / "etc"
    collector = CollectorSettings.model_validate(
        yaml.safe_load((etc / "collector.yaml").read_text())
    )
    assert collector.console is not None
    assert collector.signing is not None
    assert collector.broker.tls is not None
    agent = AgentSettings.model_validate(yaml.safe_load((etc / "agent.yaml").read_text()))
    assert agent.broker.port == 8883
    assert agent.key is not None
    assert agent.collector_key is not None
    # The console and API on loopback, behind the TLS proxy.
    assert collector.api is not None
    assert collector.api.bind.startswith("127.0.0.1:")
    assert compose_proxies_the_collector()


def compose_proxies_the_collector() -> bool:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return bool(services["proxy"]["network_mode"] == "service:collector")
