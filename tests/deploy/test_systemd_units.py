"""The systemd units as shipped: systemd's own checks pass, and they are hardened."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

UNITS = sorted((REPO / "deploy" / "systemd").glob("*.service"))
SYSTEMD = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD is None, reason="no systemd here: the units are checked on Debian")
@pytest.mark.parametrize("unit", UNITS, ids=lambda unit: unit.name)
def test_a_unit_verifies_and_exposes_at_most_3_of_10(unit: Path) -> None:
    verified = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""
    # --threshold is exposure × 10: the command fails above 3.0.
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--threshold=30", str(unit)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert security.returncode == 0, security.stdout[-400:]
    assert "Overall exposure level" in security.stdout


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="no systemd-sysusers here")
def test_the_service_user_is_created_by_sysusers_without_a_login() -> None:
    conf = REPO / "deploy" / "sysusers.d" / "slawatch.conf"
    dry = subprocess.run(
        ["systemd-sysusers", "--dry-run", str(conf)], capture_output=True, text=True, check=False
    )
    assert dry.returncode == 0, dry.stderr
    line = next(line for line in conf.read_text().splitlines() if line.startswith("u "))
    assert line.split()[1] == "slawatch"
    assert line.endswith("/usr/sbin/nologin")
    for unit in UNITS:
        text = unit.read_text()
        assert "User=slawatch" in text
        assert "StateDirectory=slawatch" in text
