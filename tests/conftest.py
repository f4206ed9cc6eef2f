"""Shared fixtures: the repository's shipped configs, used as the known-good starting point."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_inventory_text() -> str:
    return (REPO / "config" / "demo" / "inventory.yaml").read_text(encoding="utf-8")
