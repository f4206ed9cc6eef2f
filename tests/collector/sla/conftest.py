"""A small district over Q3 2026, polled hourly, replayed through the real pipeline.

Q3 2026 in Asia/Shanghai runs 2026-07-01 00:00 +08:00 to 2026-10-01 00:00 +08:00:
92 days, 2,208 hours. Hour ``h`` below is ``h`` hours after its start. The test policy
confirms a state at the first observation (down_after 1, up_after 1), so an outage
observed from hour a to hour b (first up poll) lasts exactly b − a hours, and an
observation vouches for its device for 2 h (stale_after), so a silence from the poll at
hour a to the next at hour b leaves the device unknown from a + 2 to b. The last poll is
at hour 2,208, the next quarter's first moment: the ledger has then seen the whole quarter
(a period its ledger has not reached the end of is reported as in progress).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.wire import Health, Observation, Reason
from collector.ledger.backend import target
from collector.ledger.chain import Ledger
from collector.ledger.projection import period_bounds, reading
from collector.pipeline.replay import Ack, replay
from collector.sla.exposure import ledger_states
from collector.sla.period import parse_period
from collector.sla.render import write_json
from collector.sla.report import Report, parse_grouping
from collector.sla.tickets import period_tickets
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.ledgers import ledger_in

Q3_START = datetime(2026, 6, 30, 16, tzinfo=UTC)
HOURS = 2208

INVENTORY = """\
kind: inventory
sites: [{id: d1, name: 分局}]
regions: [{id: R1, name: 城关街道}, {id: R2, name: 新城街道}]
contracts:
  - {id: cam-rent, name: 摄像机租赁, unit: device, unit_price: "628.00"}
  - {id: door-rent, name: 视频门禁租赁, unit: set, unit_price: "350.00"}
links:
  - {id: L1, name: 城关汇聚, backup_fiber: true}
  - {id: L2, name: 新城汇聚, backup_fiber: false}
devices:
  - {id: SW1, name: 交换机1, kind: switch, site: d1, address: 10.0.1.1, region: R1,
     snmp: {profile: if-mib-switch}, service_start: 2026-01-01, ports: 24, link: L1}
  - {id: SW2, name: 交换机2, kind: switch, site: d1, address: 10.0.1.2, region: R2,
     snmp: {profile: if-mib-switch}, service_start: 2026-01-01, ports: 24, link: L2}
"""


def camera(
    device_id: str, switch: str, port: int, region: str = "R1", start: str = "2026-01-01"
) -> str:
    return (
        f"  - {{id: {device_id}, name: 点位 {device_id}, kind: camera, site: d1, "
        f"address: 10.0.0.{port}, region: {region}, onvif: {{port: 80}}, contract: cam-rent, "
        f"service_start: {start}, uplink: {{switch: {switch}, port: {port}}}}}\n"
    )


POLICY = """\
kind: policy
id: test-quarter
name: 测试季度
timezone: Asia/Shanghai
targets: {online_rate: 0.90, repair_timeliness_rate: 0.97}
unknown: exclude
debounce: {down_after: 1, up_after: 1, stale_after: 2h, flap_window: 1m}
network_fault: {min_devices: 3, share: 0.8, window: 2m}
settlement: {rule: pro_rata, unit: device, prepay_rate: "0.90"}
"""


def hour(h: float) -> datetime:
    return Q3_START + timedelta(hours=h)


@dataclass
class District:
    """Devices polled every hour of the quarter; scripted outages and silences."""

    devices: list[str]
    down: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    degraded: dict[str, list[tuple[float, float, Reason]]] = field(default_factory=dict)
    silent: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    acks: list[Ack] = field(default_factory=list)
    extra_polls: list[tuple[str, float]] = field(default_factory=list)

    def observations(self) -> Iterator[Observation]:
        polls = sorted(
            [(float(h), d) for h in range(HOURS + 1) for d in self.devices]
            + [(h, d) for d, h in self.extra_polls]
        )
        for h, device_id in polls:
            if any(a < h < b for a, b in self.silent.get(device_id, [])):
                continue
            health, reason = Health.UP, Reason.OK
            for a, b, why in self.degraded.get(device_id, []):
                if a <= h < b:
                    health, reason = Health.DEGRADED, why
            for a, b in self.down.get(device_id, []):
                if a <= h < b:
                    health, reason = Health.DOWN, Reason.TIMEOUT
            stream = reason if reason is Reason.STREAM_UNAVAILABLE else Reason.OK
            yield Observation(
                agent_id="edge-1",
                device_id=device_id,
                observed_at=hour(h),
                health=health,
                reason=reason,
                # Every poll is a deep one: the stream check reports its verdict each hour.
                checks={} if health is Health.DOWN else {"stream": stream},
            )

    def ack(self, device_id: str, at_hour: float) -> None:
        self.acks.append(Ack(at=hour(at_hour), by="张工", device_id=device_id))


def write(folder: Path, inventory: str, policy: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(inventory, encoding="utf-8")
    (folder / "policy.yaml").write_text(policy, encoding="utf-8")
    return folder / "inventory.yaml", folder / "policy.yaml"


def quarter_report(
    folder: Path,
    district: District,
    inventory_text: str,
    policy_text: str = POLICY,
    group_by: str = "device",
    period: str = "2026-Q3",
    ticket_batch: int = 16_384,
) -> dict[str, Any]:
    inventory_file, policy_file = write(folder, inventory_text, policy_text)
    inventory = load_config(inventory_file, Inventory)
    policy = load_config(policy_file, Policy)
    ledger = Ledger(ledger_in(folder))
    acks = sorted(district.acks, key=lambda ack: ack.at)
    policies = PolicyBook.only(policy)
    replay(inventory, policies, district.observations(), acks, ledger)
    zone = ZoneInfo(policy.timezone)
    span = parse_period(period, zone)
    ledger.close()
    file = target(ledger_in(folder))
    with reading(file) as db:
        bounds = period_bounds(db, span.start_ms, span.end_ms)
    texts = []
    # Read as the sla command reads (from the midnight snapshot before the period to the
    # one closing it) and from genesis: every figure must be the same.
    for sliced in (bounds, None):
        report = Report(
            inventory,
            policies,
            span,
            partial(ledger_states, file, sliced),
            partial(
                period_tickets,
                file,
                span.start_ms,
                span.end_ms,
                folder / "tickets",
                ticket_batch,
                None if sliced is None else sliced.through_seq,
            ),
        )
        written = io.BytesIO()
        write_json(report.build(parse_grouping(group_by)), written)
        texts.append(written.getvalue())
    assert texts[0] == texts[1], "the figures read from the snapshot differ from genesis's"
    built: dict[str, Any] = json.loads(texts[0])  # what the command writes
    return built


def group(report: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(g for g in report["groups"] if g["key"] == key)
    return found


def ms(hours: float) -> int:
    return int(hours * 3_600_000)
