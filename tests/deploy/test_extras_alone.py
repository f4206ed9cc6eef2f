"""Each extra installed alone in a fresh virtual environment runs its commands.

The shared test environment has every extra and the dev tools, so a dependency a part
uses but its extra does not declare goes unseen there (``inventory import`` crashed on
``charset_normalizer``, which only a dev tool had pulled in). Here each extra gets a
venv of its own (uv: seconds instead of minutes for pip), then every module of the part
it serves is imported and its commands run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import COMMUNITY, PASSWORD, REPO

# extra → (packages it serves, commands run in the venv; {tmp} is a scratch folder)
EXTRAS: dict[str, tuple[tuple[str, ...], list[list[str]]]] = {
    "agent": (
        ("agent",),
        [["slawatch-agent", "check-config", "config/demo/agent.yaml"]],
    ),
    "collector": (
        ("collector",),
        [
            [
                "slawatch-collector", "inventory", "import", "config/import/sample-ledger.csv",
                "--map", "config/import/ledger-map.yaml", "-o", "{tmp}/inventory.yaml",
            ],
            ["slawatch-collector", "keys", "new", "{tmp}/key.pem"],
            ["slawatch-collector", "check-config", "config/demo/collector.yaml"],
        ],
    ),
    "sim": (
        ("simulator",),
        [
            ["slawatch-sim", "fleet", "--cameras", "4", "--switches", "1", "--out", "{tmp}"],
            ["slawatch-sim", "history", "--inventory", "{tmp}/inventory.yaml", "--policy",
             "config/policies/xinjian-2020.yaml", "--ledger", "{tmp}/ledger.sqlite", "!2"],
        ],
    ),
}  # fmt: skip
# simulator.history writes a collector's ledger: it needs the collector's extra too
# (``slawatch-sim history`` says so; the demo installs both).
NEEDS_ANOTHER = {"simulator.history"}
IMPORT_ALL = f"""
import importlib, pkgutil, sys
for name in sys.argv[1:]:
    package = importlib.import_module(name)
    for module in pkgutil.walk_packages(package.__path__, name + "."):
        if module.name not in {NEEDS_ANOTHER!r}:
            importlib.import_module(module.name)
"""


def uv(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "uv", *args], check=True, timeout=240)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files, as a fresh clone has them: a build leaves its
    build/ there, not in the work tree, and files git does not track are not packaged."""
    copy = tmp_path_factory.mktemp("source")
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, target)
    return copy


@pytest.mark.timeout(300)
@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_an_extra_alone_runs_its_commands(tmp_path: Path, source: Path, extra: str) -> None:
    venv = tmp_path / "venv"
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    uv("venv", "--quiet", "--python", str(base), str(venv))
    uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), f"{source}[{extra}]")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env |= {
        "SLAWATCH_CAMERA_PASSWORD": PASSWORD,
        "SLAWATCH_SNMP_COMMUNITY": COMMUNITY,
        "SLAWATCH_SNMP_AUTH_KEY": "auth-key-123",
        "SLAWATCH_SNMP_PRIV_KEY": "priv-key-456",
        "SLAWATCH_API_TOKEN": "t" * 32,
        "SLAWATCH_SESSION_SECRET": "s" * 48,
    }
    packages, commands = EXTRAS[extra]
    # Outside the repository, so only the installed copy can be imported.
    imported = subprocess.run(
        [str(venv / "bin" / "python"), "-c", IMPORT_ALL, *packages],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr[-2000:]
    for command in commands:
        argv = [str(venv / "bin" / command[0])]
        argv += [str(REPO / part) if part.startswith("config/") else part for part in command[1:]]
        argv = [part.replace("{tmp}", str(tmp_path)) for part in argv]
        expected = int(argv.pop()[1:]) if argv[-1].startswith("!") else 0  # "!2": exit 2
        ran = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        said = f"{' '.join(command)}:\n{ran.stdout[-1000:]}{ran.stderr[-2000:]}"
        assert ran.returncode == expected, said
        assert "Traceback" not in ran.stderr, said
