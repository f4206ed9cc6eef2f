"""An SLA policy: the contract's targets, deadlines and settlement rule, as data.

Defaults follow the source documents (../shared/domain/SLA.md): 30-minute response,
4 h front-end repair, 4 h / 24 h network repair with / without backup fibre.
"""

from __future__ import annotations

from datetime import time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator, model_validator

from slawatch.config.types import Duration, Identifier, Strict
from slawatch.messages import Said


class UnknownTime(StrEnum):
    """How time with no valid observation (agent down, stale data) counts in the online rate."""

    EXCLUDE = "exclude"
    DOWN = "down"
    UP = "up"


class RateMethod(StrEnum):
    TIME_WEIGHTED = "time_weighted"
    # 定时巡检: the state at fixed times of day, as many evaluators sample it.
    SNAPSHOT = "snapshot"


class SettlementRule(StrEnum):
    PRO_RATA = "pro_rata"
    FULL_ABOVE_TARGET = "full_above_target"


class Targets(Strict):
    online_rate: float = Field(default=0.90, ge=0, le=1)
    intact_rate: float | None = Field(default=None, ge=0, le=1)
    networking_rate: float | None = Field(default=None, ge=0, le=1)
    realtime_video_availability: float | None = Field(default=None, ge=0, le=1)
    historical_video_availability: float | None = Field(default=None, ge=0, le=1)
    max_fault_rate: float | None = Field(default=None, ge=0, le=1)
    response_timeliness_rate: float | None = Field(default=None, ge=0, le=1)
    repair_timeliness_rate: float | None = Field(default=None, ge=0, le=1)


class Debounce(Strict):
    down_after: int = Field(default=2, ge=1, le=100)
    up_after: int = Field(default=1, ge=1, le=100)
    # Degraded is confirmed after this many observations that themselves say so (a deep
    # check's verdict, not the polls in between that carry it): one transient RTSP
    # timeout is not a fault to repair.
    degraded_after: int = Field(default=2, ge=1, le=100)
    stale_after: Duration = timedelta(minutes=5)
    flap_window: Duration = timedelta(hours=1)


class RepairDeadlines(Strict):
    front_end: Duration = timedelta(hours=4)
    network_backup_fiber: Duration = timedelta(hours=4)
    network_no_backup: Duration = timedelta(hours=24)


class NetworkFaultRule(Strict):
    """When many devices behind one link drop together, it is one network fault."""

    min_devices: int = Field(default=3, ge=1)
    share: float = Field(default=0.8, gt=0, le=1)
    window: Duration = timedelta(minutes=2)


class Escalation(Strict):
    unacknowledged_after: Duration = timedelta(minutes=20)
    repair_due_within: Duration = timedelta(minutes=30)


class MaintenanceWindow(Strict):
    """Announced work: time inside it is not counted against the contractor."""

    start: AwareDatetime
    end: AwareDatetime
    reason: str
    devices: list[Identifier] = []
    regions: list[Identifier] = []
    links: list[Identifier] = []

    @model_validator(mode="after")
    def _ordered(self) -> MaintenanceWindow:
        if self.end <= self.start:
            raise ValueError(Said("rule.end_after_start"))
        return self


# Causes for which a fault is not the contractor's to answer for: a ticket may be
# excluded for one of them (the contractor asks, the bureau decides). A policy may name
# its own list; the ids are what the ledger records, the words what people read.
DEFAULT_EXEMPTION_CAUSES = {
    "grid_power": "供电部门停电",
    "road_works": "市政道路施工",
    "third_party": "第三方外力破坏",
    "disaster": "自然灾害",
    "bureau": "甲方原因（甲方要求停用、搬迁）",
}


class Settlement(Strict):
    rule: SettlementRule = SettlementRule.PRO_RATA
    currency: Literal["CNY"] = "CNY"
    unit: Literal["device", "set"] = "device"
    # CNY per unit per month, used by contracts that do not set their own price.
    unit_price: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    # Seed 002: the quarter is prepaid as if the online rate were 90%, then settled.
    prepay_rate: Decimal = Field(default=Decimal("0.90"), ge=0, le=1)


class DoorAccessRule(Strict):
    min_cameras: int = Field(default=1, ge=0)


class Policy(Strict):
    kind: Literal["policy"]
    id: Identifier
    name: str
    source: str | None = None
    timezone: str = "Asia/Shanghai"
    targets: Targets = Targets()
    method: RateMethod = RateMethod.TIME_WEIGHTED
    snapshot_times: list[time] = [time(10, 0), time(15, 0)]
    unknown: UnknownTime = UnknownTime.EXCLUDE
    debounce: Debounce = Debounce()
    response_deadline: Duration = timedelta(minutes=30)
    repair_deadlines: RepairDeadlines = RepairDeadlines()
    network_fault: NetworkFaultRule = NetworkFaultRule()
    escalation: Escalation = Escalation()
    clock_skew_limit: Duration = timedelta(seconds=10)
    recording_tolerance: Duration = timedelta(minutes=30)
    door_access: DoorAccessRule = DoorAccessRule()
    maintenance_windows: list[MaintenanceWindow] = []
    exemption_causes: dict[Identifier, str] = Field(
        default_factory=lambda: dict(DEFAULT_EXEMPTION_CAUSES)
    )
    settlement: Settlement = Settlement()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(Said("rule.time_zone")) from exc
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Policy:
        if self.method is RateMethod.SNAPSHOT and not self.snapshot_times:
            raise ValueError(Said("rule.snapshot_times"))
        if self.escalation.unacknowledged_after >= self.response_deadline:
            raise ValueError(Said("rule.escalation_first"))
        return self
