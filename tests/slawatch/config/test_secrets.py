"""Secrets are read from the environment or a file at run time and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from slawatch.config.alerting import Alerting
from slawatch.config.secrets import (
    Rule,
    api_token,
    entropy_bits,
    session_secret,
    snmp_community,
    snmp_key,
)
from slawatch.config.types import SecretRef
from slawatch.messages import known


def test_a_secret_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The process environment is the input here, not our code: setting it is not a patch.
    monkeypatch.setenv("SLAWATCH_TEST_SECRET", "pa55")
    secret = SecretRef(env="SLAWATCH_TEST_SECRET").resolve()
    assert secret.get_secret_value() == "pa55"
    assert "pa55" not in repr(secret)
    assert "pa55" not in str(secret)


def test_a_secret_comes_from_a_file(tmp_path: Path) -> None:
    file = tmp_path / "key"
    file.write_text("k3y\n", encoding="utf-8")
    assert SecretRef(file=file).resolve().get_secret_value() == "k3y"


def test_a_missing_secret_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="SLAWATCH_TEST_UNSET is not set"):
        SecretRef(env="SLAWATCH_TEST_UNSET").resolve()
    with pytest.raises(LookupError, match="cannot read secret file"):
        SecretRef(file=tmp_path / "absent").resolve()


def test_a_reference_names_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one of env or file"):
        SecretRef(env="A", file=Path("/b"))


def test_a_secret_file_that_is_not_text_is_a_clear_error_not_its_bytes(tmp_path: Path) -> None:
    file = tmp_path / "raw"
    file.write_bytes(b"\xff\xfe-not-text")
    with pytest.raises(LookupError, match="is not UTF-8 text") as raised:
        SecretRef(file=file).resolve()
    assert "not-text" not in str(raised.value)


@pytest.mark.parametrize(
    ("value", "bits"),
    [("", 0.0), ("s" * 40, 0.0), ("ab" * 20, 40.0), ("abcd" * 8, 64.0)],
)
def test_the_entropy_estimate_is_length_times_shannon_entropy(value: str, bits: float) -> None:
    assert entropy_bits(value) == pytest.approx(bits)


@pytest.mark.parametrize(
    ("rule", "value", "refused"),
    [
        (session_secret, "s" * 40, "too predictable"),
        (session_secret, "x" * 31, "has 31 characters"),
        (session_secret, "k2M9vQ7xZ1pL4tR8wN3bF6hJ0cY5dS7e", None),
        (api_token, " " * 16, "empty or only whitespace"),
        (api_token, "a" * 15, "has 15 characters"),
        (snmp_community, "", "is empty"),
        (snmp_key, "1234567", "has 7 characters"),
        (snmp_key, "12345678", None),
    ],
)
def test_each_rule(rule: Rule, value: str, refused: str | None) -> None:
    problem = rule(value)
    if refused is None:
        assert problem is None
    else:
        assert problem is not None
        assert refused in problem
        assert value.strip() == "" or value not in problem


def test_every_alerting_secret_is_named_in_both_languages() -> None:
    """A channel's secret the catalogue has no words for would show its catalogue key."""
    ref = {"env": "SLAWATCH_TEST_ALERTING"}
    alerting = Alerting.model_validate(
        {
            "smtp": {"host": "mail.example", "sender": "sla@example", "password": ref},
            "receivers": [
                {
                    "id": "duty",
                    "name": "值班",
                    "channels": [
                        {"type": "dingtalk", "access_token": ref, "secret": ref},
                        {"type": "wecom", "key": ref},
                        {"type": "webhook", "url": "https://hooks.example/x", "token": ref},
                    ],
                }
            ],
            "routes": [{"notify": ["duty"]}],
        }
    )
    names = [path[-1] for path, _ in alerting.secrets()]
    assert names == ["password", "access_token", "secret", "key", "token"]
    for name in names:
        assert known(f"secret.what.alerting.{name}"), name
