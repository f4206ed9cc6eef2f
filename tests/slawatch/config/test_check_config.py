"""An operator runs check-config on a broken file and gets every problem with file:line."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from slawatch.config.check import EXIT_INVALID, EXIT_OK, check_files
from tests.conftest import REPO
from tests.language import english_words

ALL_KINDS = {"agent", "collector", "inventory", "policy"}


def run_check(file: Path) -> tuple[int, str]:
    out = io.StringIO()
    code = check_files([file], ALL_KINDS, out)
    return code, out.getvalue()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


DEMO_SECRETS = {
    "SLAWATCH_API_TOKEN": "demo-api-token-not-for-production",
    "SLAWATCH_CAMERA_PASSWORD": "demo-camera-password",
    "SLAWATCH_SNMP_COMMUNITY": "demo-community",
    "SLAWATCH_SNMP_AUTH_KEY": "demo-auth-key",
    "SLAWATCH_SNMP_PRIV_KEY": "demo-priv-key",
}


@pytest.mark.parametrize(
    "config",
    [
        "config/demo/inventory.yaml",
        "config/demo/agent.yaml",
        "config/demo/collector.yaml",
        "config/policies/xinjian-2020.yaml",
        "config/policies/pingshan-door-access.yaml",
    ],
)
def test_shipped_configs_are_valid(config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo's configs reference secrets that scripts/demo sets; so does this.
    for name, value in DEMO_SECRETS.items():
        monkeypatch.setenv(name, value)
    code, output = run_check(REPO / config)
    assert code == EXIT_OK, output
    assert "：无误（" in output


# (name, text to replace, replacement, line marker in the broken file, expected message)
BROKEN_INVENTORIES = [
    (
        "unknown key with a hint",
        "backup_fiber: true}",
        "backup_fiber: true, colour: red}",
        "colour: red",
        "links[0].colour: 没有这个键；可用的键：'backup_fiber', 'id', 'name'",
    ),
    (
        "misspelt key gets did-you-mean",
        "    username: admin",
        "    usrname: admin",
        "usrname",
        "credentials.cam-default.usrname: 没有这个键；是否应为 'username'？",
    ),
    (
        "misspelt device key gets did-you-mean",
        "phase: P1, vendor: Uniview",
        "phase: P1, vendr: Uniview",
        "vendr: Uniview",
        "devices[4].vendr: 没有这个键；是否应为 'vendor'？",
    ),
    (
        "wrong type",
        "point_class: 1, region: R01, contract: cam-rent",
        "point_class: first, region: R01, contract: cam-rent",
        "point_class: first",
        "devices[2].point_class: 应为以下之一：1 / 2 / 3（填的是 'first'）",
    ),
    (
        "duplicate device id",
        "id: CAM002",
        "id: CAM001",
        "城关广场球机",
        "devices[3].id: 编号重复（填的是 'CAM001'）",
    ),
    (
        "uplink to a missing link",
        "uplink: {link: L2}",
        "uplink: {link: L9}",
        "link: L9",
        "devices[9].uplink.link: 没有这个编号的链路（填的是 'L9'）",
    ),
    (
        "uplink to a missing switch",
        "uplink: {switch: SW02, port: 1}",
        "uplink: {switch: SW99, port: 1}",
        "SW99",
        "devices[4].uplink.switch: 没有这个编号的交换机（填的是 'SW99'）",
    ),
    (
        "uplink to a port the switch does not have",
        "uplink: {switch: SW02, port: 2}",
        "uplink: {switch: SW02, port: 30}",
        "port: 30",
        "devices[5].uplink.port: 交换机 SW02 只有 8 个端口（填的是 30）",
    ),
    (
        "set with a missing camera",
        "cameras: [DC001, DC002]",
        "cameras: [DC001, DC009]",
        "DC009",
        "sets[0].cameras[1]: 没有这个编号的摄像机（填的是 'DC009'）",
    ),
    (
        "set whose host is a camera",
        "host: DH001",
        "host: CAM001",
        "host: CAM001",
        "sets[0].host: 没有这个编号的门禁主机（填的是 'CAM001'）",
    ),
    (
        "service_end before service_start",
        "service_end: 2026-09-30",
        "service_end: 2026-02-01",
        "service_end: 2026-02-01",
        "devices[5].service_end: 停用日期早于启用日期（2026-03-01）（填的是 2026-02-01）",
    ),
    (
        "secret inline where a reference is required",
        "password: {env: SLAWATCH_CAMERA_PASSWORD}",
        "password: hunter2",
        "password: hunter2",
        "credentials.cam-default.password: 密钥须写成引用 {env: NAME} 或 {file: PATH}，"
        "不能直接写值（填的是 ***）",
    ),
    (
        "bad YAML syntax",
        "  - {id: R02, name: 新城镇",
        "  - {id: R02, name: [新城镇",
        "[新城镇",
        "（整个文件）: YAML 格式错误（解析器：",
    ),
    (
        "duplicate top-level key",
        "sets:\n",
        "links: []\nsets:\n",
        "links: []",
        "links: 键重复（填的是 'links'）",
    ),
    (
        "region that does not exist",
        "region: R02, contract: cam-rent, phase: P1, vendor: Uniview",
        "region: R07, contract: cam-rent, phase: P1, vendor: Uniview",
        "R07",
        "devices[4].region: 没有这个编号的区域（填的是 'R07'）",
    ),
    (
        "door host without snmp",
        'snmp: {port: 16111, version: "3", profile: door-host-generic}',
        "tcp: {port: 80}",
        "幸福里3栋门禁主机",
        "devices[6].kind: 这类设备通过 SNMP 监测：请添加 snmp 一节",
    ),
    (
        "unknown device kind",
        "kind: checkpoint",
        "kind: radar",
        "kind: radar",
        "devices[9].kind: 应为以下之一：'camera' / 'door_host' / 'checkpoint' / 'switch'"
        "（填的是 'radar'）",
    ),
    (
        "device in two sets",
        "contract: door-rent}",
        "contract: door-rent}\n  - {id: SET002, name: again, host: DH001, cameras: [DC002]}",
        "SET002",
        "sets[1].host: 该设备已属于门禁 SET001（填的是 'DH001'）",
    ),
    (
        "port out of range",
        "onvif: {port: 18001}",
        "onvif: {port: 80001}",
        "80001",
        "devices[2].onvif.port: 应不大于 65535（填的是 80001）",
    ),
    (
        "missing required key",
        "  - {id: P1, name: 一期, accepted_on: 2026-01-15}",
        "  - {id: P1, accepted_on: 2026-01-15}",
        "id: P1",
        "phases[0].name: 必须填写",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "marker", "expected"),
    [case[1:] for case in BROKEN_INVENTORIES],
    ids=[case[0] for case in BROKEN_INVENTORIES],
)
def test_broken_inventory_is_reported_with_file_line_and_path(
    tmp_path: Path, demo_inventory_text: str, old: str, new: str, marker: str, expected: str
) -> None:
    assert old in demo_inventory_text
    broken = demo_inventory_text.replace(old, new, 1)
    file = tmp_path / "inventory.yaml"
    file.write_text(broken, encoding="utf-8")

    code, output = run_check(file)

    assert code == EXIT_INVALID
    line = line_of(broken, marker)
    assert f"{file}:{line}: {expected}" in output, output
    assert english_words(chinese_part(output, tmp_path)) == [], output


def chinese_part(output: str, folder: Path) -> str:
    """The output less its file names and the YAML parser's own words (quoted as such)."""
    return re.sub(r"解析器：[^）]*", "", output.replace(str(folder), ""))


@pytest.mark.parametrize(
    "name", ["unknown key with a hint", "misspelt device key gets did-you-mean", "wrong type",
             "uplink to a missing link", "missing required key"],
)  # fmt: skip
def test_the_same_problems_in_english(tmp_path: Path, demo_inventory_text: str, name: str) -> None:
    _, old, new, marker, _ = next(case for case in BROKEN_INVENTORIES if case[0] == name)
    broken = demo_inventory_text.replace(old, new, 1)
    file = tmp_path / "inventory.yaml"
    file.write_text(broken, encoding="utf-8")
    out = io.StringIO()
    assert check_files([file], ALL_KINDS, out, "en") == EXIT_INVALID
    said = out.getvalue()
    assert f"{file}:{line_of(broken, marker)}: " in said
    assert re.search(r"[\u4e00-\u9fff]", said.replace(marker, "")) is None, said
    assert english_words(said) != []


def test_every_problem_is_listed_not_just_the_first(
    tmp_path: Path, demo_inventory_text: str
) -> None:
    broken = demo_inventory_text.replace("uplink: {link: L2}", "uplink: {link: L9}").replace(
        "cameras: [DC001, DC002]", "cameras: [DC001, DC009]"
    )
    file = tmp_path / "inventory.yaml"
    file.write_text(broken, encoding="utf-8")
    code, output = run_check(file)
    assert code == EXIT_INVALID
    assert len(output.strip().splitlines()) == 2


def test_the_inline_secret_itself_never_appears_in_the_output(
    tmp_path: Path, demo_inventory_text: str
) -> None:
    broken = demo_inventory_text.replace(
        "priv_key: {env: SLAWATCH_SNMP_PRIV_KEY}", "priv_key: s3cr3t-pr1v"
    )
    file = tmp_path / "inventory.yaml"
    file.write_text(broken, encoding="utf-8")
    code, output = run_check(file)
    assert code == EXIT_INVALID
    assert "priv_key" in output
    assert "s3cr3t-pr1v" not in output


BROKEN_SETTINGS = [
    (
        "agent.yaml",
        "kind: agent\nagent_id: edge-01\nsite: demo\ninventory: inventory.yaml\n"
        "outbox: {dir: out}\npoll: {interval: 10s, timeout: 6s, retries: 1}\n",
        6,
        "poll: 超时 ×（重试次数 + 1）应短于轮询间隔",
    ),
    (
        "agent.yaml",
        "kind: agent\nagent_id: edge/01\nsite: demo\n"
        "inventory: inventory.yaml\noutbox: {dir: out}\n",
        2,
        "agent_id: 编号只能由字母、数字及 _ . : - 组成",
    ),
    (
        "collector.yaml",
        "kind: collector\ninventory: inventory.yaml\npolicy: p.yaml\nspool: {dir: s}\n"
        "ledger: l.sqlite\napi: {bind: 127.0.0.1:8080, token: abc123}\n",
        6,
        "api.token: 密钥须写成引用 {env: NAME} 或 {file: PATH}",
    ),
    (
        "policy.yaml",
        "kind: policy\nid: p\nname: p\nresponse_deadline: half an hour\n",
        4,
        "response_deadline: 应为时长，如 90s、30m、4h、1d（填的是 'half an hour'）",
    ),
    (
        "policy.yaml",
        "kind: policy\nid: p\nname: p\ntargets:\n  online_rate: 93\n",
        5,
        "targets.online_rate: 应不大于 1.0（填的是 93）",
    ),
    (
        "policy.yaml",
        "kind: policy\nid: p\nname: p\ntimezone: Mars/Olympus\n",
        4,
        "timezone: 不是 IANA 时区名（如 Asia/Shanghai）（填的是 'Mars/Olympus'）",
    ),
    ("thing.yaml", "kind: camera\n", 1, "kind: 文件类型应为以下之一：'inventory', 'policy'"),
]


@pytest.mark.parametrize(("name", "text", "line", "expected"), BROKEN_SETTINGS)
def test_broken_settings_and_policies(
    tmp_path: Path, name: str, text: str, line: int, expected: str
) -> None:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    code, output = run_check(file)
    assert code == EXIT_INVALID
    assert f"{file}:{line}: {expected}" in output, output
    assert english_words(chinese_part(output, tmp_path)) == [], output


def test_agent_settings_are_followed_to_their_inventory(
    tmp_path: Path, demo_inventory_text: str
) -> None:
    (tmp_path / "inventory.yaml").write_text(
        demo_inventory_text.replace("uplink: {link: L2}", "uplink: {link: L9}"), encoding="utf-8"
    )
    agent = tmp_path / "agent.yaml"
    agent.write_text(
        "kind: agent\nagent_id: edge-01\nsite: demo\n"
        "inventory: inventory.yaml\noutbox: {dir: out}\n",
        encoding="utf-8",
    )
    code, output = run_check(agent)
    assert code == EXIT_INVALID
    assert f"{tmp_path / 'inventory.yaml'}:" in output
    assert "没有这个编号的链路（填的是 'L9'）" in output


def test_a_contract_whose_policy_the_collector_is_not_given_is_reported_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's collector without its contract policies would settle the door-access
    sets under the camera contract's price: check-config names each such contract."""
    monkeypatch.setenv("SLAWATCH_API_TOKEN", "demo-api-token-not-for-production")
    demo = REPO / "config" / "demo"
    text = (demo / "collector.yaml").read_text(encoding="utf-8")
    text = text.replace("contract_policies: [../policies]\n", "")
    text = text.replace("inventory: inventory.yaml", f"inventory: {demo / 'inventory.yaml'}")
    text = text.replace("policy: ../policies/", f"policy: {REPO / 'config' / 'policies'}/")
    (tmp_path / "collector.yaml").write_text(text, encoding="utf-8")
    code, output = run_check(tmp_path / "collector.yaml")
    inventory = (demo / "inventory.yaml").read_text(encoding="utf-8")
    assert code == EXIT_INVALID
    assert (
        f"inventory.yaml:{line_of(inventory, 'id: door-rent')}: contracts[1].policy: "
        "合同 door-rent 指定的考核策略未加载（已加载：xinjian-2020）"
        "（填的是 'pingshan-door-access'）"
    ) in output
    code, output = run_check(demo / "collector.yaml")
    assert code == EXIT_OK, output


def test_a_secret_the_collector_cannot_read_is_named_with_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SLAWATCH_API_TOKEN", raising=False)
    demo = REPO / "config" / "demo" / "collector.yaml"
    code, output = run_check(demo)
    assert code == EXIT_INVALID
    line = line_of(demo.read_text(encoding="utf-8"), "token:")
    assert f"collector.yaml:{line}: api.token: 环境变量 SLAWATCH_API_TOKEN 未设置" in output
    assert english_words(chinese_part(output, REPO)) == [], output


@pytest.mark.parametrize("token", ["", "short-token"])
def test_an_empty_or_short_api_token_is_refused(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("SLAWATCH_API_TOKEN", token)
    code, output = run_check(REPO / "config" / "demo" / "collector.yaml")
    assert code == EXIT_INVALID
    assert (
        f"api.token: API 令牌（取自 env:SLAWATCH_API_TOKEN）只有 {len(token)} 个字符，"
        "至少需要 16 个" in output
    )
    assert english_words(chinese_part(output, REPO)) == [], output


def test_a_camera_password_the_agent_cannot_read_is_named_at_its_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in DEMO_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLAWATCH_CAMERA_PASSWORD")
    code, output = run_check(REPO / "config" / "demo" / "agent.yaml")
    assert code == EXIT_INVALID
    assert "credentials.cam-default.password: 环境变量 SLAWATCH_CAMERA_PASSWORD 未设置" in output


def test_a_signing_key_that_is_missing_or_readable_by_others_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAWATCH_API_TOKEN", "demo-api-token-not-for-production")
    demo = REPO / "config" / "demo"
    text = (demo / "collector.yaml").read_text(encoding="utf-8")
    text = text.replace("inventory: inventory.yaml", f"inventory: {demo / 'inventory.yaml'}")
    text = text.replace("../policies", str(REPO / "config" / "policies"))
    text += "signing:\n  key: collector.pem\n"
    settings = tmp_path / "collector.yaml"
    settings.write_text(text, encoding="utf-8")
    line = text.count("\n")  # the key line, the last
    code, output = run_check(settings)
    assert code == EXIT_INVALID
    key = tmp_path / "collector.pem"
    assert f"collector.yaml:{line}: signing.key: {key}：无法读取（文件不存在）" in output
    assert english_words(chinese_part(output, tmp_path)) == [], output
    key.write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    key.chmod(0o644)
    code, output = run_check(settings)
    assert code == EXIT_INVALID
    assert f"其他用户也能读取（权限 644）：请执行 'chmod 600 {key}'" in output
    assert english_words(chinese_part(output, tmp_path)) == [], output
    out = io.StringIO()
    assert check_files([settings], ALL_KINDS, out, "en") == EXIT_INVALID
    assert f"{key}: readable by others (mode 644): chmod 600" in out.getvalue()
    key.chmod(0o600)
    code, output = run_check(settings)
    assert code == EXIT_OK, output


def test_the_ledger_databases_password_is_judged_with_the_other_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAWATCH_API_TOKEN", "demo-api-token-not-for-production")
    monkeypatch.delenv("SLAWATCH_TEST_LEDGER_PASSWORD", raising=False)
    demo = REPO / "config" / "demo"
    text = (demo / "collector.yaml").read_text(encoding="utf-8")
    text = text.replace("inventory: inventory.yaml", f"inventory: {demo / 'inventory.yaml'}")
    text = text.replace("../policies", str(REPO / "config" / "policies"))
    text = text.replace(
        "ledger: ../../var/ledger.sqlite",
        "ledger:\n  postgres: postgresql://slawatch@127.0.0.1/slawatch\n"
        "  password: {env: SLAWATCH_TEST_LEDGER_PASSWORD}",
    )
    settings = tmp_path / "collector.yaml"
    settings.write_text(text, encoding="utf-8")
    code, output = run_check(settings)
    assert code == EXIT_INVALID
    line = line_of(text, "SLAWATCH_TEST_LEDGER_PASSWORD")
    assert (
        f"collector.yaml:{line}: ledger.password: 环境变量 SLAWATCH_TEST_LEDGER_PASSWORD 未设置"
    ) in output, output
    monkeypatch.setenv("SLAWATCH_TEST_LEDGER_PASSWORD", "  ")
    code, output = run_check(settings)
    assert (
        "ledger.password: 账本数据库密码（取自 env:SLAWATCH_TEST_LEDGER_PASSWORD）为空或只有空白"
        in output
    )
