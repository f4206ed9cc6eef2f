"""A third-party ONVIF client (npm "onvif", run by Node.js) reads simulated cameras."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.fleet_runner import Fleet
from tests.conftest import PASSWORD
from tests.reference_clients import npm_onvif


async def node_probe(fleet: Fleet, device_id: str, password: str) -> dict[str, Any]:
    spec = fleet.by_id[device_id].spec
    assert spec.onvif is not None
    return await npm_onvif(spec.address, spec.onvif.port, "admin", password)


@pytest.mark.parametrize("device_id", ["CAM000001", "CAM000002", "CAM000003"])
async def test_device_information_and_stream_uri_with_the_right_password(
    fleet: Fleet, device_id: str
) -> None:
    result = await node_probe(fleet, device_id, PASSWORD)
    assert result["ok"] is True, result
    info = result["info"]
    assert isinstance(info, dict)
    assert str(info["serialNumber"]).startswith("SIM")
    spec = fleet.by_id[device_id].spec
    assert spec.rtsp is not None
    assert result["uri"] == f"rtsp://{spec.address}:{spec.rtsp.port}/{device_id}/main"


async def test_the_wrong_password_is_refused(fleet: Fleet) -> None:
    result = await node_probe(fleet, "CAM000001", "not-the-password")
    assert result["ok"] is False
    assert "wsse:Security" in str(result["error"])
