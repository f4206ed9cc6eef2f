"""Real servers tests and benchmarks start on loopback: mosquitto, snmpd, victoria-metrics."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess  # nosec B404  # starts the test servers' fixed binaries
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from agent.probes.snmp_lean import encode_get

SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """A mosquitto with persistence, so sessions and queued messages survive a restart."""

    def __init__(
        self, folder: Path, *, users: dict[str, str] | None = None, acl: Path | None = None
    ) -> None:
        """``users`` (name → password) and ``acl``: no anonymous access, as deployed."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        assert Path(binary).exists(), "mosquitto is installed by scripts/system-deps"
        self.binary = binary
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "mosquitto.conf"
        access = "allow_anonymous true\n"
        if users is not None:
            passwords = folder / "passwd"
            passwords.write_text("", encoding="utf-8")
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for name, password in users.items():
                subprocess.run(  # nosec B603  # noqa: S603 - mosquitto's own tool
                    [tool, "-b", str(passwords), name, password], check=True
                )
            access = f"allow_anonymous false\npassword_file {passwords}\n"
            if acl is not None:
                access += f"acl_file {acl}\n"
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to its own user, which cannot enter the
            # tests' private temporary directories (password file, persistence): stay root.
            access += "user root\n"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n{access}persistence true\n"
            f"persistence_location {folder}/\n"
            "max_queued_messages 100000\n"
            "log_dest none\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # nosec B603  # noqa: S603 - a fixed, trusted binary
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

    def kill(self) -> None:
        """``kill -9``: what it queued since its last save is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


class Snmpd:
    """Debian's net-snmp agent on loopback, with a v2c community and a v3 authPriv user.

    ``privacy`` is the user's privacy protocol as snmpd.conf spells it (``AES``, ``AES256``
    with Blumenthal's key extension, ``AES256C`` with Reeder's, Cisco's); ``engine_id``
    (hex) fixes the engine ID, as a unit's MAC or serial does; ``tcp_port`` also serves
    SNMP over TCP there (a port of the host that answers while UDP is refused or dropped);
    ``port`` reuses an address, for a unit replaced on the same one.
    """

    COMMUNITY = "slawatch-test"
    USER = "slawatchv3"
    AUTH_KEY = "authpass123"
    PRIV_KEY = "privpass123"

    def __init__(
        self,
        folder: Path,
        *,
        privacy: str = "AES",
        engine_id: str | None = None,
        tcp_port: int | None = None,
        port: int | None = None,
    ) -> None:
        binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
        assert Path(binary).exists(), "snmpd is installed by scripts/system-deps"
        self.binary = binary
        self.port = port or free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config = folder / "snmpd.conf"
        addresses = f"udp:127.0.0.1:{self.port}"
        if tcp_port is not None:
            addresses += f",tcp:127.0.0.1:{tcp_port}"
        self.config.write_text(
            f"agentaddress {addresses}\n"
            f"rocommunity {self.COMMUNITY} 127.0.0.1\n"
            f'createUser {self.USER} SHA "{self.AUTH_KEY}" {privacy} "{self.PRIV_KEY}"\n'
            f"rouser {self.USER} priv\n"
            "sysName debian-snmpd\n" + (f"exactEngineID {engine_id}\n" if engine_id else ""),
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # nosec B603  # noqa: S603 - a fixed, trusted binary
            [self.binary, "-f", "-Lo", "-C", "-c", str(self.config), "-I", "-smux"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"SNMP_PERSISTENT_DIR": str(self.folder / "persist"), "MIBS": ""},
        )
        # UDP: nothing to connect to. Ready when it answers (a few ms, seconds on a busy box).
        try:
            _await_v2c(self.port, self.COMMUNITY.encode(), 15, "snmpd")
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _await_v2c(port: int, community: bytes, seconds: float, name: str) -> None:
    """Ask the SNMP agent on loopback ``port`` for sysDescr.0 (v2c) every 0.2 s, on one
    socket, until an answer comes. One socket: an agent that starts slowly (a busy
    machine) answers the earlier asks late, and those answers count; asked from a new
    socket each time, it answered sockets already closed while new asks queued behind."""
    deadline = time.monotonic() + seconds
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        while time.monotonic() < deadline:
            probe.sendto(encode_get(community, 1, [SYS_DESCR]), ("127.0.0.1", port))
            try:
                probe.recv(1024)
                return
            except OSError:
                continue
    raise TimeoutError(f"{name} did not answer within {seconds:.0f} s")


class Snmpsim:
    """snmpsim's command responder serving ``.snmprec`` recordings of real devices, one
    community per file (its name without ``.snmprec``), on loopback. ``extra`` adds
    recordings made for a test (name → text), e.g. with snmpsim's ``delay`` or ``error``
    variation modules."""

    def __init__(self, folder: Path, recordings: Path, extra: dict[str, str] | None = None) -> None:
        binary = REPO / ".venv-snmpsim" / "bin" / "snmpsim-command-responder"
        assert binary.exists(), "snmpsim is installed in .venv-snmpsim by scripts/setup dev"
        self.binary = binary
        self.port = free_port()
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        for recording in recordings.glob("*.snmprec"):
            (self.data / recording.name).write_bytes(recording.read_bytes())
        for name, text in (extra or {}).items():
            (self.data / f"{name}.snmprec").write_text(text, encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # nosec B603  # noqa: S603 - a fixed, trusted binary
            [
                str(self.binary),
                f"--data-dir={self.data}",
                f"--cache-dir={self.folder / 'cache'}",
                f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Tests run as root; snmpsim refuses root unless told (its documented switch).
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        )
        # It indexes every recording before answering: a minute on a busy machine.
        community = next(self.data.glob("*.snmprec")).stem.encode()
        try:
            _await_v2c(self.port, community, 120, "snmpsim")
        except TimeoutError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class VictoriaMetrics:
    """Debian's victoria-metrics: a real server behind InfluxDB's v2 write API.

    It keeps numbers only (one series per field, named ``<measurement>_<field>``) and
    milliseconds; ``export`` reads back what was stored.
    """

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        assert Path(binary).exists(), "victoria-metrics is installed by scripts/system-deps"
        self.binary = binary
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(  # nosec B603  # noqa: S603 - a fixed, trusted binary
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.folder}",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as reply:  # nosec B310  # noqa: S310
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("victoria-metrics did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(15)
            self.process = None

    def export(self, series: str) -> list[dict[str, Any]]:
        """Every stored sample of the series matching ``series`` (a PromQL selector)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):  # nosec B310  # noqa: S310
            pass
        query = urllib.parse.urlencode({"match[]": series})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as reply:  # nosec B310  # noqa: S310
            return [json.loads(line) for line in reply.read().splitlines() if line.strip()]


class Postgres:
    """Debian's PostgreSQL on a free loopback port: a throwaway cluster of its own.

    Run as the ``postgres`` user when started as root (PostgreSQL refuses root), so the
    cluster lives in its own temporary directory that user owns, not in the tests' private
    one. Passwords are checked over TCP (SCRAM), as deployed; ``passfile`` holds the
    superuser's, in libpq's format.
    """

    # Debian's postgresql installs its release's major version (15 on bookworm).
    BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"),
              key=lambda found: int(found.parent.name))  # fmt: skip
    PASSWORD = "pg-Secret-1"  # nosec B105  # noqa: S105 - the throwaway cluster's superuser

    def __init__(self) -> None:
        assert (self.BIN / "postgres").exists(), "postgresql is installed by scripts/system-deps"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="slawatch-pg-"))
        self.data = self.root / "data"
        self.passfile = self.root / "passfile"
        self._user: str | None = "postgres" if os.geteuid() == 0 else None
        self.process: subprocess.Popen[bytes] | None = None

    def _run(self, *command: str) -> None:
        subprocess.run(  # nosec B603  # noqa: S603 - PostgreSQL's own tools
            command, check=True, user=self._user, stdout=subprocess.DEVNULL
        )

    def _own_root(self) -> None:
        """The password in libpq's format, and the folder handed to the server's user."""
        self.passfile.write_text(f"*:*:*:postgres:{self.PASSWORD}\n", encoding="utf-8")
        self.passfile.chmod(0o600)
        if self._user is not None:
            shutil.chown(self.root, self._user)

    def start(self) -> None:
        if not self.data.exists():
            secret = self.root / "pwfile"
            secret.write_text(self.PASSWORD + "\n", encoding="utf-8")
            self._own_root()
            if self._user is not None:
                shutil.chown(secret, self._user)
            self._run(
                str(self.BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                f"--pwfile={secret}", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--locale=C.UTF-8", "--encoding=UTF8", "--no-sync",
            )  # fmt: skip
        # fmt: off
        self.process = subprocess.Popen(  # nosec B603  # noqa: S603 - a fixed, trusted binary
            [str(self.BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k",
             str(self.root), "-c", "listen_addresses=127.0.0.1"],
            user=self._user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # fmt: on
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = subprocess.run(  # nosec B603  # noqa: S603 - PostgreSQL's own tool
                [str(self.BIN / "pg_isready"), "-q", "-h", str(self.root), "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("postgres did not start")

    def dsn(self, database: str = "postgres") -> str:
        """A DSN without the password (libpq reads it from ``passfile``)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}?passfile={self.passfile}"

    def replica(self) -> Postgres:
        """A streaming replica of this running server, started: its own cluster (copied
        with ``pg_basebackup -R``, so it follows this one), port and folder."""
        replica = Postgres()
        replica._own_root()
        self._run(
            str(self.BIN / "pg_basebackup"), "-h", str(self.root), "-p", str(self.port),
            "-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "--no-sync",
            "--checkpoint=fast",
        )  # fmt: skip
        replica.start()
        return replica

    def synchronous(self) -> None:
        """A commit returns once a replica has it on disk too (``synchronous_standby_names``):
        waits until one streams as the synchronous standby."""
        self.sql("ALTER SYSTEM SET synchronous_standby_names = '*'", "SELECT pg_reload_conf()")
        deadline = time.monotonic() + 20
        while "sync" not in self.sql("SELECT sync_state FROM pg_stat_replication").split():
            if time.monotonic() > deadline:
                raise RuntimeError("no replica became the synchronous standby")
            time.sleep(0.05)

    def promote(self) -> None:
        """This replica becomes a primary that takes writes (``pg_ctl promote``, waited for)."""
        self._run(str(self.BIN / "pg_ctl"), "promote", "-w", "-D", str(self.data))

    def sql(self, *statements: str) -> str:
        """Each statement run by the superuser over the local socket; what they printed."""
        found = subprocess.run(  # nosec B603  # noqa: S603 - PostgreSQL's own tool
            [str(self.BIN / "psql"), "-h", str(self.root), "-p", str(self.port), "-U",
             "postgres", "-X", "-A", "-t", *(f"--command={s}" for s in statements)],
            check=True, user=self._user, capture_output=True, text=True,
        )  # fmt: skip
        return found.stdout

    def create_database(self, name: str) -> str:
        self._run(
            str(self.BIN / "createdb"), "-h", str(self.root), "-p", str(self.port),
            "-U", "postgres", name,
        )  # fmt: skip
        return self.dsn(name)

    def stop(self) -> None:
        """A fast shutdown: clients still connected are disconnected, not waited for."""
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(20)
            self.process = None

    def remove(self) -> None:
        """Stop it at once (nothing of it is kept) and delete the cluster."""
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(20)
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)
