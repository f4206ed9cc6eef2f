"""Secrets are read from the environment or a file at run time and never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from slawatch.config.types import SecretRef


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
