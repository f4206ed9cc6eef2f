"""The inventory: what is monitored, where it hangs in the network, and who is paid for it.

Shape checks live in the pydantic models; checks that need the whole file (duplicate ids,
references between sections, set membership) live in ``cross_check`` so that every
problem is reported at once with its key path.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from slawatch.config.errors import Issue
from slawatch.config.types import (
    AgentPublicKey,
    Duration,
    Identifier,
    InternedId,
    InternedStr,
    SecretRef,
    Strict,
)
from slawatch.messages import Language, Said, text

# Devices and sets exist by the hundred thousand: they are slotted dataclasses (~1 KB each
# instead of ~5 KB as BaseModels) and their rules that need no other row live in
# cross_check, which reports them with the exact key path.
_ROW = ConfigDict(extra="forbid")


class DeviceKind(StrEnum):
    CAMERA = "camera"
    DOOR_HOST = "door_host"
    CHECKPOINT = "checkpoint"
    SWITCH = "switch"


class ContractUnit(StrEnum):
    """What one unit of rent pays for: a single device or a whole door-access set."""

    DEVICE = "device"
    SET = "set"


class Site(Strict):
    id: Identifier
    name: str
    # The edge agents that report for this site (their agent_id): the only ones the
    # collector takes batches from, acks, or hears go offline here; an unknown agent, or
    # one of another site, is refused. A site listing none is heard from by no agent.
    agents: list[Identifier] = []
    # Each listed agent's public key (``slawatch-agent keys new`` prints it), required:
    # an agent is heard only in messages it signed, on a broker without an ACL too
    # (docs/security.md).
    agent_keys: dict[Identifier, AgentPublicKey] = {}
    # Migration only (agents installed before they signed): the site's agents that have
    # no key in ``agent_keys`` are heard unsigned, so anyone who can publish on the
    # broker may speak in their name. Off by default; the collector warns at every load,
    # on /metrics and on the wall while it is on (docs/security.md).
    allow_unsigned_agents: bool = False


class Region(Strict):
    """A street/township and the police station responsible for it (所属派出所)."""

    id: Identifier
    name: str
    street: str | None = None
    police_station: str | None = None


class Contract(Strict):
    id: Identifier
    name: str
    contractor: str | None = None
    unit: ContractUnit = ContractUnit.DEVICE
    # CNY per unit per month; when absent the policy's settlement.unit_price applies.
    unit_price: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    policy: Identifier | None = None


class Phase(Strict):
    """A build phase (建设期): fault rates are also reported per phase."""

    id: Identifier
    name: str
    accepted_on: date | None = None


class Link(Strict):
    """A network link (fibre) that switches hang off; backup fibre shortens repair deadlines."""

    id: Identifier
    name: str | None = None
    backup_fiber: bool


class SnmpV3(Strict):
    user: str = Field(min_length=1)
    auth_protocol: Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"] = "SHA"
    auth_key: SecretRef
    priv_protocol: Literal["DES", "AES", "AES192", "AES256"] = "AES"
    priv_key: SecretRef


class Credential(Strict):
    """A named credential set shared by many devices; secrets by reference only."""

    username: str | None = None
    password: SecretRef | None = None
    snmp_community: SecretRef | None = None
    snmp_v3: SnmpV3 | None = None

    @model_validator(mode="after")
    def _password_needs_user(self) -> Credential:
        if self.password is not None and self.username is None:
            raise ValueError(Said("rule.password_without_username"))
        return self


@dataclass(frozen=True, slots=True, config=_ROW)
class OnvifSettings:
    port: int = Field(default=80, ge=1, le=65535)
    path: str = Field(default="/onvif/device_service", pattern=r"^/")
    tls: bool = False


@dataclass(frozen=True, slots=True, config=_ROW)
class SnmpSettings:
    # Name of a profile in config/profiles/ that says which OIDs to read and how to judge them.
    profile: InternedId
    port: int = Field(default=161, ge=1, le=65535)
    version: Literal["2c", "3"] = "2c"


@dataclass(frozen=True, slots=True, config=_ROW)
class RtspSettings:
    port: int = Field(default=554, ge=1, le=65535)
    path: str | None = Field(default=None, pattern=r"^/")


@dataclass(frozen=True, slots=True, config=_ROW)
class TcpSettings:
    port: Annotated[int, Field(ge=1, le=65535)]


PortName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9/:._ -]*$")
]


@dataclass(frozen=True, slots=True, config=_ROW)
class Uplink:
    """Where a device connects: a link directly (``link``), or a port of an access switch."""

    link: InternedId | None = None
    switch: InternedId | None = None
    # A number (the Nth front-panel Ethernet port) or the interface's name
    # ("GigabitEthernet0/0/3", "Gi1/0/3"); the rule is in docs/agent.md.
    port: Annotated[int, Field(ge=1, le=1024)] | PortName | None = None


@dataclass(frozen=True, slots=True, config=_ROW)
class Device:
    id: Identifier
    name: str
    kind: DeviceKind
    site: InternedId
    address: Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\-\[\]]+$")]
    region: InternedId
    service_start: date
    onvif: OnvifSettings | None = None
    snmp: SnmpSettings | None = None
    rtsp: RtspSettings | None = None
    tcp: TcpSettings | None = None
    credentials: InternedId | None = None
    point_class: Literal[1, 2, 3] = 2
    contract: InternedId | None = None
    phase: InternedId | None = None
    vendor: InternedStr | None = None
    model: InternedStr | None = None
    service_end: date | None = None
    uplink: Uplink | None = None
    # Only for switches: how many ports devices may hang off, and the link it rides on.
    ports: int | None = Field(default=None, ge=1, le=1024)
    link: InternedId | None = None
    interval: Duration | None = None
    # The agent that polls this device (one of its site's agents): only its statuses of
    # the device are taken. None: any agent of the site.
    agent: InternedId | None = None
    # Where it hangs, as the 台账 says (安装位置), and its 经纬度 for the console's map.
    location: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


@dataclass(frozen=True, slots=True, config=_ROW)
class DoorAccessSet:
    """A video door-access set (视频门禁): one door host and its cameras, rented as one unit."""

    id: Identifier
    name: str
    host: InternedId
    cameras: Annotated[list[InternedId], Field(min_length=1)]
    contract: InternedId | None = None


class Inventory(Strict):
    kind: Literal["inventory"]
    sites: list[Site] = Field(min_length=1)
    regions: list[Region] = Field(min_length=1)
    contracts: list[Contract] = []
    phases: list[Phase] = []
    links: list[Link] = []
    credentials: dict[Identifier, Credential] = {}
    devices: list[Device] = []
    sets: list[DoorAccessSet] = []


def _duplicates(section: str, ids: list[str], language: Language) -> list[Issue]:
    counts = Counter(ids)
    first_seen: set[str] = set()
    issues = []
    for index, item_id in enumerate(ids):
        if counts[item_id] > 1:
            if item_id in first_seen:
                issues.append(
                    Issue(
                        (section, index, "id"),
                        text("inventory.duplicate_id", language),
                        repr(item_id),
                    )
                )
            first_seen.add(item_id)
    return issues


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def address_problem(address: str, language: Language = "zh") -> str | None:
    """Why ``address`` is no IPv4 address, IPv6 address or host name (None when it is).
    Digits and dots are an IPv4 address and must be one: 10.36.1.300 is a typo, not a
    host name."""
    if ":" in address:
        try:
            ipaddress.IPv6Address(address.removeprefix("[").removesuffix("]"))
        except ValueError:
            return text("address.not_ipv6", language)
        return None
    if all(part.isdigit() for part in address.split(".")):
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            return text("address.not_ipv4", language)
        return None
    if not all(_HOST_LABEL.match(label) for label in address.removesuffix(".").split(".")):
        return text("address.not_host", language)
    return None


def _device_rules(at: tuple[str | int, ...], device: Device, language: Language) -> list[Issue]:
    """Rules about one device that pydantic's field checks cannot express."""

    def say(key: str) -> str:
        return text(key, language)

    issues = []
    wrong = address_problem(device.address, language)
    if wrong is not None:
        issues.append(Issue((*at, "address"), wrong, repr(device.address)))
    if not (device.onvif or device.snmp or device.tcp):
        issues.append(Issue(at, say("inventory.no_probe")))
    if device.kind in (DeviceKind.DOOR_HOST, DeviceKind.SWITCH) and device.snmp is None:
        issues.append(Issue((*at, "kind"), say("inventory.needs_snmp")))
    if device.kind is DeviceKind.SWITCH:
        if device.ports is None:
            issues.append(Issue(at, say("inventory.switch_ports")))
    else:
        for name in ("ports", "link"):
            if getattr(device, name) is not None:
                issues.append(Issue((*at, name), say("inventory.switch_only")))
    uplink = device.uplink
    if uplink is not None:
        if uplink.link is not None and (uplink.switch is not None or uplink.port is not None):
            issues.append(Issue((*at, "uplink"), say("inventory.uplink_both")))
        elif uplink.link is None and (uplink.switch is None or uplink.port is None):
            issues.append(Issue((*at, "uplink"), say("inventory.uplink_neither")))
    return issues


def cross_check(inventory: Inventory, language: Language = "zh") -> list[Issue]:
    """Checks that need the whole inventory: ids unique, references resolvable, sets sound;
    said in ``language`` (whoever loads the inventory reads them)."""

    def say(key: str, **values: object) -> str:
        return text(key, language, **values)

    issues: list[Issue] = []
    for section in ("sites", "regions", "contracts", "phases", "links", "devices", "sets"):
        ids = [item.id for item in getattr(inventory, section)]
        issues += _duplicates(section, ids, language)

    sites = {site.id for site in inventory.sites}
    agents_of = {site.id: set(site.agents) for site in inventory.sites}
    site_of_agent: dict[str, str] = {}
    for index, site in enumerate(inventory.sites):
        for position, agent in enumerate(site.agents):
            other = site_of_agent.setdefault(agent, site.id)
            if other != site.id:
                issues.append(
                    Issue(
                        ("sites", index, "agents", position),
                        say("inventory.agent_elsewhere", site=other),
                        repr(agent),
                    )
                )
            if agent not in site.agent_keys and not site.allow_unsigned_agents:
                issues.append(
                    Issue(
                        ("sites", index, "agents", position),
                        say("inventory.agent_no_key", agent=agent, site=site.id, index=index),
                        repr(agent),
                    )
                )
        for agent in site.agent_keys:
            if agent not in site.agents:
                issues.append(
                    Issue(
                        ("sites", index, "agent_keys"), say("inventory.not_this_site"), repr(agent)
                    )
                )
    regions = {region.id for region in inventory.regions}
    contracts = {contract.id for contract in inventory.contracts}
    phases = {phase.id for phase in inventory.phases}
    links = {link.id for link in inventory.links}
    devices = {device.id: device for device in inventory.devices}

    def no_such(what: str) -> str:
        return say("inventory.no_such", what=say(f"inventory.what.{what}"))

    def ref(path: tuple[str | int, ...], value: str | None, known: set[str], what: str) -> None:
        if value is not None and value not in known:
            issues.append(Issue(path, no_such(what), repr(value)))

    credentials = set(inventory.credentials)
    for index, device in enumerate(inventory.devices):
        at = ("devices", index)
        issues += _device_rules(at, device, language)
        ref((*at, "site"), device.site, sites, "site")
        ref((*at, "region"), device.region, regions, "region")
        ref((*at, "contract"), device.contract, contracts, "contract")
        ref((*at, "phase"), device.phase, phases, "phase")
        ref((*at, "link"), device.link, links, "link")
        ref((*at, "credentials"), device.credentials, credentials, "credentials")
        if device.agent is not None and device.agent not in agents_of.get(device.site, set()):
            issues.append(
                Issue(
                    (*at, "agent"),
                    say("inventory.not_site_agent", site=device.site),
                    repr(device.agent),
                )
            )
        if device.service_end is not None and device.service_end < device.service_start:
            issues.append(
                Issue(
                    (*at, "service_end"),
                    say("inventory.end_before_start", start=device.service_start),
                    str(device.service_end),
                )
            )
        uplink = device.uplink
        if uplink is None:
            continue
        ref((*at, "uplink", "link"), uplink.link, links, "link")
        if uplink.switch is not None:
            switch = devices.get(uplink.switch)
            if switch is None or switch.kind is not DeviceKind.SWITCH:
                issues.append(
                    Issue((*at, "uplink", "switch"), no_such("switch"), repr(uplink.switch))
                )
            elif (
                isinstance(uplink.port, int)
                and switch.ports is not None
                and uplink.port > switch.ports
            ):
                issues.append(
                    Issue(
                        (*at, "uplink", "port"),
                        say("inventory.few_ports", switch=switch.id, ports=switch.ports),
                        str(uplink.port),
                    )
                )

    member_of: dict[str, str] = {}
    for index, door_set in enumerate(inventory.sets):
        at = ("sets", index)
        ref((*at, "contract"), door_set.contract, contracts, "contract")
        host = devices.get(door_set.host)
        if host is None or host.kind is not DeviceKind.DOOR_HOST:
            issues.append(Issue((*at, "host"), no_such("door_host"), repr(door_set.host)))
        for position, camera_id in enumerate(door_set.cameras):
            camera = devices.get(camera_id)
            if camera is None or camera.kind is not DeviceKind.CAMERA:
                issues.append(Issue((*at, "cameras", position), no_such("camera"), repr(camera_id)))
        for position, member in enumerate([door_set.host, *door_set.cameras]):
            owner = member_of.setdefault(member, door_set.id)
            if owner != door_set.id:
                where = (*at, "host") if position == 0 else (*at, "cameras", position - 1)
                issues.append(Issue(where, say("inventory.in_other_set", set=owner), repr(member)))
    return issues


def link_of(device: Device, devices: Mapping[str, Device]) -> str | None:
    """The link a device's traffic rides on: its own, its uplink's, or its switch's."""
    if device.kind is DeviceKind.SWITCH:
        return device.link
    if device.uplink is None:
        return None
    if device.uplink.link is not None:
        return device.uplink.link
    switch = devices.get(device.uplink.switch or "")
    return switch.link if switch is not None else None


def contracts_of_devices(inventory: Inventory) -> dict[str, str | None]:
    """The contract each device is billed under: its own, or for a door-access set's host
    and cameras, the set's (its host's when the set names none): a set is rented whole."""
    by_id = {device.id: device for device in inventory.devices}
    contracts = {device.id: device.contract for device in inventory.devices}
    for door_set in inventory.sets:
        contract = door_set.contract or by_id[door_set.host].contract
        for member in (door_set.host, *door_set.cameras):
            contracts[member] = contract
    return contracts


def unsigned_agents(inventory: Inventory) -> dict[str, list[str]]:
    """By site, the agents heard unsigned (their site opts in, no key registered)."""
    found = {
        site.id: [agent for agent in site.agents if agent not in site.agent_keys]
        for site in inventory.sites
        if site.allow_unsigned_agents
    }
    return {site: agents for site, agents in found.items() if agents}
