"""Third-party clients the agent's verdicts are checked against, each run for real:
npm ``onvif`` (agsh/onvif, by Node.js), onvif-zeep-async (zeep over httpx) and ffprobe."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

from onvif import ONVIFCamera

from tests.conftest import REPO

NPM_ONVIF = REPO / "tests" / "thirdparty" / "onvif_probe.js"


async def npm_onvif(address: str, port: int, username: str, password: str) -> dict[str, Any]:
    """npm ``onvif`` connects, reads device information and the stream URI: its JSON line."""
    node = shutil.which("node")
    assert node is not None, "Node.js is installed by scripts/system-deps"
    process = await asyncio.create_subprocess_exec(
        node,
        str(NPM_ONVIF),
        address,
        str(port),
        username,
        password,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output, errors = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, errors.decode()
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return result


async def onvif_zeep(address: str, port: int, username: str, password: str) -> dict[str, Any]:
    """onvif-zeep-async does what the npm client does: ``ok``, ``info``, ``uri`` or ``error``."""
    camera = ONVIFCamera(address, port, username, password, no_cache=True)
    try:
        await camera.update_xaddrs()
        devicemgmt = await camera.create_devicemgmt_service()
        info = await devicemgmt.GetDeviceInformation()
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        stream = await media.GetStreamUri(
            {
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                "ProfileToken": profiles[0].token,
            }
        )
    except Exception as exc:  # noqa: BLE001 - the reference's failure is the result
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        await camera.close()
    return {"ok": True, "info": {"manufacturer": info.Manufacturer}, "uri": stream.Uri}


def ffprobe_opens(uri: str) -> bool:
    """The reference: ffprobe (FFmpeg) reads the stream's codec, or fails."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-rw_timeout",
            "10000000",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and ("h264" in done.stdout or "hevc" in done.stdout)
