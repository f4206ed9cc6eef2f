"""Reconcile the 设备台账 with the network: who answers ONVIF's WS-Discovery, and who should.

A Probe for NetworkVideoTransmitter goes to 239.255.255.250:3702 (the edge server's
route for multicast picks the interface); every camera that answers sends a
ProbeMatch with its service address (XAddrs) and scopes (hardware = its model). Cameras
on other subnets (multicast stays in its own) are found by walking a range with
GetSystemDateAndTime, which ONVIF answers without credentials. Each listed camera that
answers is asked GetDeviceInformation with its credentials (model, serial number).
Each is then matched with the inventory by address:
- ``ok``: listed and answering, its model as listed;
- ``no_model``: listed and answering, but the inventory or the camera names no model,
  so nothing could be compared (无型号可比: fill the 台账's model in);
- ``silent``: listed with ONVIF, inside what was asked (the edge server's own networks,
  where the multicast goes, or a walked range), and never answering: dead or cut off;
- ``unasked``: listed, but outside every network asked: multicast stays in its subnet,
  so silence there says nothing (walk its range with ``--subnet``);
- ``unlisted``: answering at an address the inventory does not have;
- ``model``: answering with another model than the inventory lists.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import ipaddress
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import psutil
from lxml import etree

from agent.probes.base import Credentials
from agent.probes.onvif_soap import (
    DEVICE_NS,
    CameraBook,
    HttpStatusError,
    SoapFaultError,
    text_of,
)
from slawatch.columns import fit
from slawatch.config.inventory import Inventory
from slawatch.messages import Language, text

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

GROUP, PORT = "239.255.255.250", 3702
NS = {
    "e": "http://www.w3.org/2003/05/soap-envelope",
    "w": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}
# Replies from the network: no entities, no network, no huge trees.
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
HARDWARE = "onvif://www.onvif.org/hardware/"


@dataclass(frozen=True, slots=True)
class Answer:
    address: str  # the host of its first XAddr
    xaddr: str
    model: str | None
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    status: str  # ok, no_model, silent, unasked, unlisted, model
    device_id: str | None
    name: str | None
    address: str
    listed_model: str | None
    answered_model: str | None
    xaddr: str | None
    serial: str | None = None


def probe(message_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<e:Envelope xmlns:e="{NS["e"]}" xmlns:w="{NS["w"]}" xmlns:d="{NS["d"]}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
        f"<w:MessageID>{message_id}</w:MessageID>"
        '<w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>'
        '<w:Action e:mustUnderstand="true">'
        "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
        "<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body>"
        "</e:Envelope>"
    ).encode()


def read_match(data: bytes, message_id: str) -> list[Answer]:
    """The answers in one ProbeMatches reply to our probe (entity expansion off)."""
    try:
        root = etree.fromstring(data, PARSER)
    except etree.XMLSyntaxError:
        return []
    if root.findtext("e:Header/w:RelatesTo", default="", namespaces=NS) != message_id:
        return []
    found = []
    for match in root.iterfind("e:Body/d:ProbeMatches/d:ProbeMatch", NS):
        xaddrs = (match.findtext("d:XAddrs", default="", namespaces=NS) or "").split()
        if not xaddrs:
            continue
        scopes = (match.findtext("d:Scopes", default="", namespaces=NS) or "").split()
        model = next((s.removeprefix(HARDWARE) for s in scopes if s.startswith(HARDWARE)), None)
        host = urlsplit(xaddrs[0]).hostname or ""
        found.append(Answer(host, xaddrs[0], model))
    return found


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.answers: dict[str, Answer] = {}

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        for answer in read_match(data, self.message_id):
            self.answers.setdefault(answer.address, answer)


async def listen(wait_s: float, repeats: int = 2) -> list[Answer]:
    """Probe (twice: UDP may drop one) and collect the answers for ``wait_s`` seconds."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    sock.bind(("", 0))
    transport, listener = await loop.create_datagram_endpoint(
        lambda: _Listener(message_id), sock=sock
    )
    try:
        for _ in range(repeats):
            transport.sendto(probe(message_id), (GROUP, PORT))
            await asyncio.sleep(wait_s / repeats)
    finally:
        transport.close()
    return sorted(listener.answers.values(), key=lambda answer: answer.address)


async def walk(network: str, port: int, timeout_s: float) -> list[Answer]:
    """Every host of ``network`` (at most 4,096) asked GetSystemDateAndTime on ``port``;
    those that answer ONVIF."""
    hosts = list(ipaddress.ip_network(network, strict=False).hosts())[:4096]
    book = CameraBook(timeout_s)
    gate = asyncio.Semaphore(64)

    async def ask(host: str) -> Answer | None:
        url = f"http://{host}:{port}/onvif/device_service"
        async with gate:
            try:
                await book.client(host, None, None).call_anonymous(
                    url, DEVICE_NS, "GetSystemDateAndTime"
                )
            except (aiohttp.ClientError, TimeoutError, SoapFaultError, HttpStatusError, ValueError):
                return None
        return Answer(host, url, None)

    try:
        found = await asyncio.gather(*(ask(str(host)) for host in hosts))
    finally:
        await book.close()
    return [answer for answer in found if answer is not None]


async def inspect(
    inventory: Inventory,
    credentials: Mapping[str, Credentials],
    answers: list[Answer],
    timeout_s: float,
) -> list[Answer]:
    """Each answer from a listed camera, with its model and serial from GetDeviceInformation
    (asked with the camera's credentials); answers from others as they came."""
    listed = {d.address.strip("[]"): d for d in inventory.devices if d.onvif is not None}
    book = CameraBook(timeout_s)

    async def ask(answer: Answer) -> Answer:
        device = listed.get(answer.address)
        if device is None:
            return answer
        secret = credentials.get(device.credentials or "", Credentials())
        client = book.client(device.id, secret.username, secret.password)
        try:
            info = await client.call(answer.xaddr, DEVICE_NS, "GetDeviceInformation")
        except (aiohttp.ClientError, TimeoutError, SoapFaultError, HttpStatusError, ValueError):
            return answer
        model, serial = text_of(info, "Model"), text_of(info, "SerialNumber")
        return dataclasses.replace(answer, model=model or answer.model, serial=serial)

    try:
        return list(await asyncio.gather(*(ask(answer) for answer in answers)))
    finally:
        await book.close()


def own_networks() -> list[Network]:
    """The networks of this edge server's interfaces: where its multicast probe goes."""
    found: list[Network] = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6) and address.netmask:
                host = address.address.split("%")[0]  # an IPv6 link-local's zone
                try:
                    found.append(ipaddress.ip_network(f"{host}/{address.netmask}", strict=False))
                except ValueError:
                    continue  # a netmask psutil could not render as one
    return found


def reconcile(
    inventory: Inventory, answers: list[Answer], asked: Sequence[Network] | None = None
) -> list[Finding]:
    """Each ONVIF device of the inventory, and each answer, as one finding. ``asked``:
    the networks the probe and the walks covered (None: everywhere)."""
    by_address = {answer.address: answer for answer in answers}

    def was_asked(address: str) -> bool:
        if asked is None:
            return True
        try:
            host = ipaddress.ip_address(address)
        except ValueError:
            return True  # a host name: it could have answered
        return any(host in network for network in asked)

    findings = []
    listed: set[str] = set()
    for device in inventory.devices:
        if device.onvif is None:
            continue
        address = device.address.strip("[]")
        listed.add(address)
        answer = by_address.get(address)
        if answer is None:
            status = "silent" if was_asked(address) else "unasked"
        elif not device.model or not answer.model:
            status = "no_model"
        elif answer.model != device.model.replace(" ", "_"):
            status = "model"
        else:
            status = "ok"
        findings.append(
            Finding(
                status, device.id, device.name, device.address, device.model,
                answer.model if answer else None, answer.xaddr if answer else None,
                answer.serial if answer else None,
            )
        )  # fmt: skip
    for answer in answers:
        if answer.address not in listed:
            findings.append(
                Finding("unlisted", None, None, answer.address, None, answer.model, answer.xaddr)
            )
    return findings


COLUMNS = (
    "status", "device_id", "name", "address", "listed_model", "answered_model", "serial", "xaddr",
)  # fmt: skip


# Statuses that leave nothing to fix in the network (a missing model is the 台账's to fill).
IN_ORDER = frozenset({"ok", "no_model"})


def findings_csv(findings: list[Finding], language: Language = "zh") -> bytes:
    """UTF-8 with BOM: the engineer fixes the 台账 in Excel from it. Headers and statuses
    in the reader's language (English keeps the codes, for scripts)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if language == "en":
        writer.writerow(COLUMNS)
    else:
        writer.writerow([text(f"discover.column.{column}", language) for column in COLUMNS])
    for finding in findings:
        row = [getattr(finding, column) or "" for column in COLUMNS]
        if language != "en":
            row[0] = text(f"discover.{finding.status}", language)
        writer.writerow(row)
    return out.getvalue().encode("utf-8-sig")


def findings_table(findings: list[Finding], language: Language = "zh") -> list[str]:
    """The findings as the terminal shows them (CJK-wide columns line up), and a hint
    when cameras were never asked."""

    def t(key: str) -> str:
        return text(key, language)

    lines = [
        f"{fit(t('discover.status'), 10)} {fit(t('discover.device'), 14)} "
        f"{fit(t('discover.address'), 16)} {fit(t('discover.listed'), 14)} {t('discover.answered')}"
    ]
    lines += [
        f"{fit(t('discover.' + found.status), 10)} {fit(found.device_id or '-', 14)} "
        f"{fit(found.address, 16)} {fit(found.listed_model or '-', 14)} "
        f"{found.answered_model or '-'}"
        for found in findings
    ]
    unasked = sum(1 for f in findings if f.status == "unasked")
    if unasked:
        lines.append(text("discover.unasked_hint", language, count=unasked))
    return lines
