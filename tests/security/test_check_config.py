"""check-config knows every secret's rules, and ``run`` refuses the same before it starts:
the real commands (``.venv/bin/slawatch-collector``, ``.venv/bin/slawatch-agent``) on
settings whose secrets are missing, blank, short or predictable exit 2 naming the key at
its line, never with a traceback, never showing the secret."""

from __future__ import annotations

import base64
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from slawatch.config.secrets import entropy_bits
from tests.conftest import REPO
from tests.language import english_words

BIN = REPO / ".venv" / "bin"
POLICIES = REPO / "config" / "policies"
# A refusal comes within a second or two; a command still running after this started.
STARTS_WITHIN_S = 30
GOOD_TOKEN = secrets.token_urlsafe(24)
GOOD_SESSION_SECRET = base64.b64encode(os.urandom(48)).decode()  # openssl rand -base64 48


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    args: tuple[str, ...]

    def assert_refused(self, file: Path, line: int, key: str, problem: str, *hidden: str) -> None:
        """Refused at ``file:line: key``, the secret not shown; in Chinese (the default),
        the file's lines hold no English word but what is typed as it is (names, paths,
        the command to run)."""
        assert self.code == 2, self.out
        assert f"{file}:{line}: {key}: {problem}" in self.out, self.out
        assert "Traceback" not in self.out, self.out
        for value in hidden:
            assert value not in self.out, "the secret is shown"
        said = [line for line in self.out.splitlines() if line.startswith(f"{file}:")]
        if "--lang" not in self.args:  # the log's lines stay English: only what is said
            assert english_words("\n".join(said).replace(str(file.parent), "")) == [], said


def command(tool: str, *args: str, env: dict[str, str | None], cwd: Path) -> Ran:
    """The installed command, importing this checkout (PYTHONPATH: the console scripts
    would otherwise import whatever checkout the virtualenv was installed from), with
    ``env`` set (None: unset)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    try:
        done = subprocess.run(
            [str(BIN / tool), *args],
            env=environment,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=STARTS_WITHIN_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:  # it started instead of refusing (it is killed)
        said = [
            part.decode() if isinstance(part, bytes) else part or ""
            for part in (exc.output, exc.stderr)
        ]
        return Ran(-1, f"still running after {STARTS_WITHIN_S} s: {''.join(said)}", args)
    return Ran(done.returncode, done.stdout + done.stderr, args)


COLLECTOR = """\
kind: collector
inventory: {inventory}
policy: {policies}/xinjian-2020.yaml
contract_policies: [{policies}]
broker: {{host: 127.0.0.1, port: 1}}
spool: {{dir: spool}}
ledger: ledger.sqlite
api:
  bind: 127.0.0.1:1
  token: {{env: SLAWATCH_TEST_API_TOKEN}}
console:
  users: users.yaml
  session_secret: {{env: SLAWATCH_TEST_SESSION_SECRET}}
"""
API_TOKEN_LINE = 10
SESSION_SECRET_LINE = 13


@pytest.fixture
def collector_settings(tmp_path: Path) -> Path:
    inventory = REPO / "config" / "demo" / "inventory.yaml"
    file = tmp_path / "collector.yaml"
    file.write_text(COLLECTOR.format(inventory=inventory, policies=POLICIES), encoding="utf-8")
    return file


def collector(settings: Path, env: dict[str, str | None], *, run: bool) -> Ran:
    given: dict[str, str | None] = {
        "SLAWATCH_TEST_API_TOKEN": GOOD_TOKEN,
        "SLAWATCH_TEST_SESSION_SECRET": GOOD_SESSION_SECRET,
    }
    given |= env
    if run:
        return command(
            "slawatch-collector", "run", "-c", str(settings), env=given, cwd=settings.parent
        )
    return command(
        "slawatch-collector", "check-config", str(settings), env=given, cwd=settings.parent
    )


def test_good_secrets_pass_and_the_documented_generator_makes_one() -> None:
    made = subprocess.run(
        ["openssl", "rand", "-base64", "48"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert entropy_bits(made) >= 128
    assert entropy_bits(GOOD_SESSION_SECRET) >= 128


def test_the_collectors_good_settings_pass_check_config(collector_settings: Path) -> None:
    ran = collector(collector_settings, {}, run=False)
    assert ran.code == 0, ran.out
    assert GOOD_TOKEN not in ran.out
    assert GOOD_SESSION_SECRET not in ran.out


# (name, environment, key, line, the problem as printed, the values never shown)
BAD_COLLECTOR_SECRETS = [
    (
        "no session secret",
        {"SLAWATCH_TEST_SESSION_SECRET": None},
        "console.session_secret",
        SESSION_SECRET_LINE,
        "环境变量 SLAWATCH_TEST_SESSION_SECRET 未设置",
        (),
    ),
    (
        "a 3-character session secret",
        {"SLAWATCH_TEST_SESSION_SECRET": "q7Z"},
        "console.session_secret",
        SESSION_SECRET_LINE,
        "会话密钥（取自 env:SLAWATCH_TEST_SESSION_SECRET）只有 3 个字符，至少需要 32 个"
        "（可用 'openssl rand -base64 48' 生成）",
        ("q7Z",),
    ),
    (
        "a session secret of 40 times s",
        {"SLAWATCH_TEST_SESSION_SECRET": "s" * 40},
        "console.session_secret",
        SESSION_SECRET_LINE,
        "会话密钥（取自 env:SLAWATCH_TEST_SESSION_SECRET）太容易猜到：估计只有 0 比特熵",
        ("s" * 40,),
    ),
    (
        "a session secret that repeats two characters",
        {"SLAWATCH_TEST_SESSION_SECRET": "aB" * 24},
        "console.session_secret",
        SESSION_SECRET_LINE,
        "会话密钥（取自 env:SLAWATCH_TEST_SESSION_SECRET）太容易猜到：估计只有 48 比特熵",
        ("aB" * 24,),
    ),
    (
        "an API token of 16 spaces",
        {"SLAWATCH_TEST_API_TOKEN": " " * 16},
        "api.token",
        API_TOKEN_LINE,
        "API 令牌（取自 env:SLAWATCH_TEST_API_TOKEN）为空或只有空白",
        (),
    ),
    (
        "a short API token",
        {"SLAWATCH_TEST_API_TOKEN": "tok-9f2"},
        "api.token",
        API_TOKEN_LINE,
        "API 令牌（取自 env:SLAWATCH_TEST_API_TOKEN）只有 7 个字符，至少需要 16 个",
        ("tok-9f2",),
    ),
]


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
@pytest.mark.parametrize(
    ("env", "key", "line", "problem", "hidden"),
    [case[1:] for case in BAD_COLLECTOR_SECRETS],
    ids=[case[0] for case in BAD_COLLECTOR_SECRETS],
)
def test_the_collector_refuses_a_bad_secret(
    collector_settings: Path,
    run: bool,
    env: dict[str, str | None],
    key: str,
    line: int,
    problem: str,
    hidden: tuple[str, ...],
) -> None:
    ran = collector(collector_settings, env, run=run)
    ran.assert_refused(collector_settings, line, key, problem, *hidden)


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
def test_a_console_without_a_session_secret_is_refused(collector_settings: Path, run: bool) -> None:
    text = collector_settings.read_text(encoding="utf-8")
    collector_settings.write_text(
        text.replace("  session_secret: {env: SLAWATCH_TEST_SESSION_SECRET}\n", ""),
        encoding="utf-8",
    )
    ran = collector(collector_settings, {}, run=run)
    ran.assert_refused(collector_settings, 11, "console.session_secret", "必须填写")


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
def test_a_secret_file_of_raw_bytes_is_named_not_a_traceback(
    collector_settings: Path, run: bool
) -> None:
    raw = collector_settings.parent / "session-secret"
    raw.write_bytes(os.urandom(47) + b"\xff")  # openssl rand 48 > file: not text
    text = collector_settings.read_text(encoding="utf-8")
    collector_settings.write_text(
        text.replace("{env: SLAWATCH_TEST_SESSION_SECRET}", "{file: session-secret}"),
        encoding="utf-8",
    )
    ran = collector(collector_settings, {}, run=run)
    ran.assert_refused(
        collector_settings,
        SESSION_SECRET_LINE,
        "console.session_secret",
        f"密钥文件 {raw} 不是 UTF-8 文本（请用 'openssl rand -base64 48' 生成）",
    )


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
def test_every_bad_secret_is_named_at_once(collector_settings: Path, run: bool) -> None:
    ran = collector(
        collector_settings,
        {"SLAWATCH_TEST_API_TOKEN": " " * 16, "SLAWATCH_TEST_SESSION_SECRET": "q7Z"},
        run=run,
    )
    ran.assert_refused(collector_settings, API_TOKEN_LINE, "api.token", "API 令牌")
    ran.assert_refused(
        collector_settings, SESSION_SECRET_LINE, "console.session_secret", "会话密钥"
    )


@pytest.mark.parametrize("language", ["zh", "en"])
def test_faults_without_its_token_names_it_in_the_commands_language(
    collector_settings: Path, language: str
) -> None:
    ran = command(
        "slawatch-collector",
        "faults",
        "list",
        "-c",
        str(collector_settings),
        *(["--lang", "en"] if language == "en" else []),
        env={"SLAWATCH_TEST_API_TOKEN": None},
        cwd=collector_settings.parent,
    )
    said = {
        "zh": "环境变量 SLAWATCH_TEST_API_TOKEN 未设置",
        "en": "environment variable SLAWATCH_TEST_API_TOKEN is not set",
    }
    ran.assert_refused(collector_settings, API_TOKEN_LINE, "api.token", said[language])


AGENT = """\
kind: agent
agent_id: edge-01
site: demo
inventory: inventory.yaml
profiles: {profiles}
broker:
  host: 127.0.0.1
  port: 1
  username: edge-01
  password: {{env: SLAWATCH_TEST_BROKER_PASSWORD}}
outbox: {{dir: outbox}}
"""
BROKER_PASSWORD_LINE = 10
DEVICE_SECRETS = {
    "SLAWATCH_CAMERA_PASSWORD": "cam-Pass-8c1",
    "SLAWATCH_SNMP_COMMUNITY": "site-community",
    "SLAWATCH_SNMP_AUTH_KEY": "auth-key-5d2e",
    "SLAWATCH_SNMP_PRIV_KEY": "priv-key-7a9b",
    "SLAWATCH_TEST_BROKER_PASSWORD": "broker-pass-31",
}


@pytest.fixture
def agent_settings(tmp_path: Path) -> Path:
    inventory = (REPO / "config" / "demo" / "inventory.yaml").read_text(encoding="utf-8")
    (tmp_path / "inventory.yaml").write_text(inventory, encoding="utf-8")
    file = tmp_path / "agent.yaml"
    file.write_text(AGENT.format(profiles=REPO / "config" / "profiles"), encoding="utf-8")
    return file


def agent(settings: Path, env: dict[str, str], *, run: bool) -> Ran:
    given: dict[str, str | None] = {**DEVICE_SECRETS, **env}
    if run:
        return command("slawatch-agent", "run", "-c", str(settings), env=given, cwd=settings.parent)
    return command("slawatch-agent", "check-config", str(settings), env=given, cwd=settings.parent)


def line_in(file: Path, needle: str) -> int:
    lines = file.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def test_the_agents_good_settings_pass_check_config(agent_settings: Path) -> None:
    ran = agent(agent_settings, {}, run=False)
    assert ran.code == 0, ran.out
    for value in DEVICE_SECRETS.values():
        assert value not in ran.out


def test_the_agent_does_not_run_without_its_key_and_the_collectors(agent_settings: Path) -> None:
    """Unsigned batches would all be refused; unverified acks would let anyone on the broker
    empty its outbox: it does not start."""
    ran = agent(agent_settings, {}, run=True)
    assert ran.code == 2, ran.out
    assert "key" in ran.out
    assert "collector_key (the .pub beside the collector's signing key) are required" in ran.out


# (name, environment, key, the inventory's line marker or None for the settings', problem)
BAD_AGENT_SECRETS = [
    (
        "an empty SNMP community",
        {"SLAWATCH_SNMP_COMMUNITY": ""},
        "credentials.snmp-v2c.snmp_community",
        "SLAWATCH_SNMP_COMMUNITY",
        "SNMP 团体名（取自 env:SLAWATCH_SNMP_COMMUNITY）为空：请填写设备应答的团体名",
        (),
    ),
    (
        "a 3-character SNMPv3 auth key",
        {"SLAWATCH_SNMP_AUTH_KEY": "k3Y"},
        "credentials.door-v3.snmp_v3.auth_key",
        "SLAWATCH_SNMP_AUTH_KEY",
        "SNMPv3 认证密钥（取自 env:SLAWATCH_SNMP_AUTH_KEY）只有 3 个字符；SNMPv3 至少需要 8 个",
        ("k3Y",),
    ),
    (
        "a 7-character SNMPv3 priv key",
        {"SLAWATCH_SNMP_PRIV_KEY": "pr1v-k7"},
        "credentials.door-v3.snmp_v3.priv_key",
        "SLAWATCH_SNMP_PRIV_KEY",
        "SNMPv3 加密密钥（取自 env:SLAWATCH_SNMP_PRIV_KEY）只有 7 个字符",
        ("pr1v-k7",),
    ),
    (
        "a blank broker password",
        {"SLAWATCH_TEST_BROKER_PASSWORD": "   "},
        "broker.password",
        None,
        "MQTT 服务器密码（取自 env:SLAWATCH_TEST_BROKER_PASSWORD）为空或只有空白",
        (),
    ),
]


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
@pytest.mark.parametrize(
    ("env", "key", "marker", "problem", "hidden"),
    [case[1:] for case in BAD_AGENT_SECRETS],
    ids=[case[0] for case in BAD_AGENT_SECRETS],
)
def test_the_agent_refuses_a_bad_secret(
    agent_settings: Path,
    run: bool,
    env: dict[str, str],
    key: str,
    marker: str | None,
    problem: str,
    hidden: tuple[str, ...],
) -> None:
    ran = agent(agent_settings, env, run=run)
    if marker is None:
        file, line = agent_settings, BROKER_PASSWORD_LINE
    else:
        file = agent_settings.parent / "inventory.yaml"
        line = line_in(file, marker)
    ran.assert_refused(file, line, key, problem, *hidden)
    assert "polling" not in ran.out  # refused before it started


@pytest.mark.parametrize("run", [False, True], ids=["check-config", "run"])
def test_the_agent_names_every_bad_device_secret_at_once(agent_settings: Path, run: bool) -> None:
    ran = agent(
        agent_settings,
        {
            "SLAWATCH_SNMP_COMMUNITY": "",
            "SLAWATCH_SNMP_AUTH_KEY": "k3Y",
            "SLAWATCH_SNMP_PRIV_KEY": "p",
        },
        run=run,
    )
    inventory = agent_settings.parent / "inventory.yaml"
    for key, marker in [
        ("credentials.snmp-v2c.snmp_community", "SLAWATCH_SNMP_COMMUNITY"),
        ("credentials.door-v3.snmp_v3.auth_key", "SLAWATCH_SNMP_AUTH_KEY"),
        ("credentials.door-v3.snmp_v3.priv_key", "SLAWATCH_SNMP_PRIV_KEY"),
    ]:
        ran.assert_refused(inventory, line_in(inventory, marker), key, "SNMP", "k3Y")


def test_the_secrets_rules_in_english_on_request(
    collector_settings: Path, agent_settings: Path
) -> None:
    ran = command(
        "slawatch-collector",
        "check-config",
        "--lang",
        "en",
        str(collector_settings),
        env={
            "SLAWATCH_TEST_API_TOKEN": "tok-9f2",
            "SLAWATCH_TEST_SESSION_SECRET": None,
            **DEVICE_SECRETS,
        },
        cwd=collector_settings.parent,
    )
    ran.assert_refused(
        collector_settings,
        API_TOKEN_LINE,
        "api.token",
        "the API token from env:SLAWATCH_TEST_API_TOKEN has 7 characters; give at least 16",
        "tok-9f2",
    )
    ran.assert_refused(
        collector_settings,
        SESSION_SECRET_LINE,
        "console.session_secret",
        "environment variable SLAWATCH_TEST_SESSION_SECRET is not set",
    )
    assert re.search(r"[\u4e00-\u9fff]", ran.out) is None, ran.out
    ran = command(
        "slawatch-agent",
        "check-config",
        "--lang",
        "en",
        str(agent_settings),
        env={**DEVICE_SECRETS, "SLAWATCH_SNMP_AUTH_KEY": "k3Y"},
        cwd=agent_settings.parent,
    )
    inventory = agent_settings.parent / "inventory.yaml"
    ran.assert_refused(
        inventory,
        line_in(inventory, "SLAWATCH_SNMP_AUTH_KEY"),
        "credentials.door-v3.snmp_v3.auth_key",
        "the SNMPv3 auth key from env:SLAWATCH_SNMP_AUTH_KEY has 3 characters; SNMPv3 needs "
        "at least 8 (Net-SNMP refuses a shorter one)",
        "k3Y",
    )
    assert re.search(r"[\u4e00-\u9fff]", ran.out) is None, ran.out
