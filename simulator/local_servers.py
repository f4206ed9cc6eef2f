"""Real servers that tests and benchmarks start on loopback: Debian's mosquitto and snmpd."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """A mosquitto with persistence, so sessions and queued messages survive a restart."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        assert Path(binary).exists(), "mosquitto is installed by scripts/system-deps"
        self.binary = binary
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 100000\n"
            "log_dest none\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed, trusted binary
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Snmpd:
    """Debian's net-snmp agent on loopback, with a v2c community and a v3 authPriv user."""

    COMMUNITY = "slawatch-test"
    USER = "slawatchv3"
    AUTH_KEY = "authpass123"
    PRIV_KEY = "privpass123"

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
        assert Path(binary).exists(), "snmpd is installed by scripts/system-deps"
        self.binary = binary
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "snmpd.conf"
        self.config.write_text(
            f"agentaddress udp:127.0.0.1:{self.port}\n"
            f"rocommunity {self.COMMUNITY} 127.0.0.1\n"
            f'createUser {self.USER} SHA "{self.AUTH_KEY}" AES "{self.PRIV_KEY}"\n'
            f"rouser {self.USER} priv\n"
            "sysName debian-snmpd\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed, trusted binary
            [self.binary, "-f", "-Lo", "-C", "-c", str(self.config), "-I", "-smux"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"SNMP_PERSISTENT_DIR": str(self.folder / "persist"), "MIBS": ""},
        )
        time.sleep(0.5)  # UDP: nothing to connect to; snmpd is ready within a few ms

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
