"""The wall names what is wrong as the duty room knows it: a card per contract (door-access
sets under the set's contract) with the share online now, big, against the contract's
target, "no agent reports" where none does, an outage banner, a dead link by its name and
backup fibre, a dead switch by its name."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from agent.wire import AgentLoad, Health, Reason, Status
from collector.pipeline.faults import FaultClass, Ticket
from collector.web.console.views import cause_of
from simulator.fleet import fleet_devices, fleet_sets, inventory_header
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.config.writer import write_inventory
from tests.agent_keys import registered
from tests.collector.live import FakeAgent
from tests.collector.test_disk import ledger_locked
from tests.collector.web.console.conftest import API_TOKEN, console
from tests.conftest import REPO, SIZE, wait_for

ARTEFACTS = REPO / "var" / "artefacts"


def card(page: str, contract: str) -> str:
    found = re.search(rf'data-contract="{contract}">(.*?)</div>\s*</div>', page, re.DOTALL)
    assert found is not None, contract
    return found.group(1)


async def test_cards_per_contract_sets_included_and_a_dead_link_named_with_its_fibre(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        async with httpx.AsyncClient(base_url=live.url, headers=viewer) as wall:
            before = (await wall.get("/")).text
            # Nothing reports yet: said, not shown as 0 % in red.
            assert "无采集节点上报" in card(before, "door-rent")
            assert 'class="figure bad"' not in before
            agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
            start = datetime.now(UTC) - timedelta(seconds=1)  # observed before sent
            for second in range(3):  # every device behind the link dark: the link is down
                statuses = [
                    Status(
                        device_id=device.id,
                        observed_at=start + timedelta(milliseconds=10 * second + n),
                        health=Health.DOWN,
                        reason=Reason.TIMEOUT,
                    )
                    for n, device in enumerate(inventory.devices)
                ]
                await agent.publish(agent.batch(statuses))
            faults = live.collector.pipeline.faults
            await wait_for(
                lambda: any(
                    t.open and t.fault_class is FaultClass.NETWORK for t in faults.tickets.values()
                ),
                20,
            )
            after = (await wall.get("/")).text
        # The door-access sets' hosts and cameras count under the sets' contract; now
        # first and big, against the contract's target: a total outage is unmistakable.
        members = sum(1 + len(s.cameras) for s in inventory.sets)
        door = card(after, "door-rent")
        assert f"离线 {members} 台" in door
        assert '<div class="big now">0.00%</div>' in door
        assert "视频门禁租赁" in door
        assert '<div class="figure bad" data-contract="door-rent">' in after
        outage = re.search(r'<div id="outage" class="outage" >(.*?)</div>\s*<section', after, re.S)
        assert outage is not None
        assert "大面积离线：视频门禁租赁 6 台中 6 台离线" in outage.group(1)
        named = re.search(r'<div class="muted cause">([^<]*)</div>', after)
        assert named is not None
        assert named.group(1) == "链路 汇聚光纤 1（有备用光纤，4 小时内修复）：16 台设备"


def test_a_switch_down_with_the_devices_behind_it_is_named_as_the_switch(
    inventory: Inventory,
) -> None:
    devices = {device.id: device for device in inventory.devices}
    links = {link.id: link for link in inventory.links}
    switch = next(d for d in inventory.devices if d.kind.value == "switch")
    behind = [d.id for d in inventory.devices if d.uplink and d.uplink.switch == switch.id]
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    ticket = Ticket(
        "N1", FaultClass.NETWORK, Reason.TIMEOUT, "L0001", True, [switch.id, *behind],
        moment, moment, moment + timedelta(minutes=30), moment + timedelta(hours=4), "p",
    )  # fmt: skip
    cause = cause_of(ticket, devices, links)
    assert cause is not None
    assert (cause.kind, cause.name, cause.behind) == ("switch", switch.name, len(behind))
    # A second switch of the same link down too: the link, not either switch.
    other = next(d for d in inventory.devices if d.kind.value == "switch" and d is not switch)
    ticket.device_ids.append(other.id)
    widened = cause_of(ticket, devices, links)
    assert widened is not None
    assert widened.kind == "link"
    assert widened.backup_fiber is True
    assert widened.repair_hours == 4


async def test_the_wall_says_the_ledger_disk_is_locked_and_when_it_takes_writes_again(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """A reader's sqlite3 shell holds the ledger's write lock: the duty room sees why
    nothing is taken in (and that the agents keep it), then that it is over."""
    async with (
        console(tmp_path, broker.port, open_read=True, agent=False) as live,
        async_playwright() as playwright,
    ):
        shell = await asyncio.create_subprocess_exec(
            "sqlite3", str(tmp_path / "ledger.sqlite"), stdin=asyncio.subprocess.PIPE
        )
        assert shell.stdin is not None
        shell.stdin.write(b".timeout 10000\nBEGIN EXCLUSIVE;\n")
        await shell.stdin.drain()
        await wait_for(lambda: ledger_locked(tmp_path / "ledger.sqlite"))
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        camera = next(d for d in inventory.devices if d.kind.value == "camera")
        up = Status(
            device_id=camera.id, observed_at=datetime.now(UTC), health=Health.UP, reason=Reason.OK
        )
        await agent.publish(agent.batch([up]))
        await wait_for(lambda: live.collector.store.blocked_since is not None, 20)
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox"]
        )
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(live.url)
        row = await page.inner_text("#store")
        assert "账本磁盘" in row
        assert "账本被其他进程锁定" in row
        assert "1 条消息暂不确认，由代理保留" in row
        assert await page.get_attribute("#store td:nth-child(2)", "class") == "bad"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTEFACTS / "console-wall-store-locked.png"), full_page=True)
        shell.stdin.write(b"COMMIT;\n.quit\n")
        await shell.stdin.drain()
        assert await shell.wait() == 0
        await wait_for(lambda: live.collector.counters.batches == 1, 20)
        await page.reload()
        assert "正常写入" in await page.inner_text("#store")
        await browser.close()


async def test_an_agent_whose_clock_is_off_is_shown_with_its_offset(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """A batch sent 6 min ahead by the agent's clock: kept aside, and the wall says by how
    much the agent's clock is off and that its devices are unknown."""
    async with console(tmp_path, broker.port, agent=False) as live:
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        ahead = datetime.now(UTC) + timedelta(minutes=6)
        batch = agent.batch(
            [
                Status(device_id=d.id, observed_at=ahead, health=Health.UP, reason=Reason.OK)
                for d in inventory.devices
            ]
        )
        await agent.publish(batch.model_copy(update={"sent_at": ahead}))
        await wait_for(lambda: "edge-t" in live.collector.clocks_off)
        async with httpx.AsyncClient(base_url=live.url, headers=viewer) as wall:
            page = (await wall.get("/")).text
        shown = re.search(r'class="agent-clock bad">(.*?)</td>', page, re.DOTALL)
        assert shown is not None, page
        assert re.search(r"时钟偏差 \+3(59|60)\.\d s", shown.group(1))  # 360 s, less the transit
        assert "设备状态未知" in shown.group(1)
        assert live.collector.counters.clock_held_statuses == len(inventory.devices)
        assert live.collector.counters.statuses == 0


def overload(at: datetime, stalled: int, overloaded: bool = True) -> AgentLoad:
    return AgentLoad(
        at=at,
        window_s=3,
        overloaded=overloaded,
        stalled_results=stalled,
        late=7,
        missed=2,
        deep_deferred=1,
        lag_max_s=0.84,
    )


async def test_an_overloaded_agent_is_shown_as_such_on_the_wall_and_in_metrics(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """A starved agent reports its load in its batches (even one with no status: all its
    results were its own stall); the wall says it is overloaded and its devices unknown,
    /metrics has it, an older report replayed from its outbox changes nothing, and a
    report that it caught up takes the line away."""
    async with console(tmp_path, broker.port, agent=False) as live:
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        now = datetime.now(UTC)
        await agent.publish(
            agent.batch([]).model_copy(update={"load": overload(now, 12)}),
            agent.batch([]).model_copy(update={"load": overload(now - timedelta(seconds=9), 0)}),
        )
        await wait_for(lambda: live.collector.counters.batches == 2)
        async with httpx.AsyncClient(base_url=live.url, headers=viewer) as wall:
            page = (await wall.get("/")).text
            metrics = (
                await wall.get("/metrics", headers={"authorization": f"Bearer {API_TOKEN}"})
            ).text
            shown = re.search(
                r'class="agent-load bad" data-agent="edge-t"><td[^>]*>(.*?)</td>', page
            )
            assert shown is not None, page
            line = re.sub(r"<[^>]+>", " ", shown.group(1))
            assert "采集节点过载：本周期 12 个结果作废（采集节点卡顿），相关设备状态未知" in line
            assert "迟发探测 7 次，漏检周期 2 次" in line
            assert "最长卡顿 0.84 秒" in line
            assert 'slawatch_agent_load_overloaded{agent="edge-t"} 1.0' in metrics
            assert 'slawatch_agent_load_stalled_results{agent="edge-t"} 12.0' in metrics
            assert 'slawatch_agent_load_missed_cycles{agent="edge-t"} 2.0' in metrics
            english = (await wall.get("/", params={"lang": "en"})).text
            assert "Agent overloaded: 12 results discarded this cycle" in english

            await agent.publish(
                agent.batch([]).model_copy(
                    update={"load": overload(now + timedelta(seconds=1), 0, overloaded=False)}
                )
            )
            await wait_for(lambda: live.collector.counters.batches == 3)
            page = (await wall.get("/", params={"lang": "zh"})).text
            metrics = (
                await wall.get("/metrics", headers={"authorization": f"Bearer {API_TOKEN}"})
            ).text
        assert "agent-load" not in page
        assert 'slawatch_agent_load_overloaded{agent="edge-t"} 0.0' in metrics


async def test_an_agent_heard_unsigned_is_marked_on_the_wall(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """A site that lets its keyless agents be heard unsigned (migration): the wall marks
    each such agent, before it is even heard, and says what that costs."""
    file = tmp_path / "inventory.yaml"
    header = inventory_header(SIZE, **registered("edge-t"))
    header["sites"][0]["agents"].append("edge-old")
    header["sites"][0]["allow_unsigned_agents"] = True
    write_inventory(file, header, fleet_devices(SIZE), fleet_sets(SIZE))
    async with console(tmp_path, broker.port, agent=False) as live:
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        async with httpx.AsyncClient(base_url=live.url, headers=viewer) as wall:
            page = (await wall.get("/")).text
            english = (await wall.get("/", params={"lang": "en"})).text
    marked = re.findall(
        r'class="agent-unsigned bad" data-agent="([^"]+)"><td[^>]*>(.*?)</td>', page
    )
    assert [agent for agent, _ in marked] == ["edge-old"]  # edge-t signs: not marked
    assert "未签名接收" in marked[0][1]
    assert "anyone on the broker can speak in its name" in english
