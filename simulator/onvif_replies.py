"""ONVIF replies built from real cameras' captured SOAP, per vendor personality.

Each personality is one real camera's captures (``captures/onvif/<device>_<Operation>.xml``),
so namespace prefixes (``s:``, ``env:``, ``SOAP-ENV:``), extra elements and envelope
declarations are exactly what that firmware sends. At load time every value that must
change per camera or per moment (clock, serial, addresses, recording span) is turned
into a ``string.Template`` placeholder once; answering a request is one substitution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template

from lxml import etree

CAPTURES = Path(__file__).resolve().parent / "captures" / "onvif"

# Personalities: three camera firmwares with complete Device + Media captures.
PERSONALITIES = ("ipnc-ipg8150pss", "noname-ipdh4k8m05bs", "onvif-enp1a14ir25x")
RECORDING_SOURCE = "profileg-unnamed"

_URL = re.compile(rb"(https?|rtsp)://127\.0\.0\.1(?::\d+)?")
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)

_TIME_FIELDS = ("Hour", "Minute", "Second")
_DATE_FIELDS = ("Year", "Month", "Day")


@dataclass(frozen=True, slots=True)
class Reply:
    template: Template

    def render(self, **values: str) -> bytes:
        return self.template.substitute(values).encode()


def _localname(element: etree._Element) -> str:
    return etree.QName(element).localname


def _set_placeholders(tree: etree._Element) -> None:
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        name = _localname(element)
        parent = element.getparent()
        grandparent = parent.getparent() if parent is not None else None
        scope = _localname(grandparent) if grandparent is not None else ""
        if name in _TIME_FIELDS + _DATE_FIELDS and scope in ("UTCDateTime", "LocalDateTime"):
            prefix = "utc" if scope == "UTCDateTime" else "local"
            element.text = f"${{{prefix}_{name.lower()}}}"
        elif name == "SerialNumber":
            element.text = "${serial}"
        elif name == "Uri" and parent is not None and _localname(parent) == "MediaUri":
            element.text = "${stream_uri}"
        elif name in ("DataFrom", "EarliestRecording"):
            element.text = "${recording_from}"
        elif name in ("DataUntil", "DataTo", "LatestRecording"):
            element.text = "${recording_until}"


def _template(file: Path) -> Reply:
    tree = etree.fromstring(file.read_bytes(), _SAFE_PARSER)
    _set_placeholders(tree)
    text = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    text = text.replace(b"$", b"$$").replace(b"$${", b"${")
    text = _URL.sub(lambda found: b"${" + found.group(1).lower() + b"_base}", text)
    return Reply(Template(text.decode()))


def _envelope_around(reference: Path, body: str) -> Reply:
    """Put a synthesized body inside a personality's own envelope (prefixes and all)."""
    text = reference.read_text(encoding="utf-8")
    opening = re.search(r"<([\w-]+):Body[^>]*>", text)
    closing = re.search(r"</([\w-]+):Body>", text)
    assert opening is not None, reference
    assert closing is not None, reference
    whole = text[: opening.end()] + body + text[closing.start() :]
    return Reply(Template(whole.replace("$", "$$").replace("$${", "${")))


_NETWORK_INTERFACES = """
<tds:GetNetworkInterfacesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
    xmlns:tt="http://www.onvif.org/ver10/schema">
  <tds:NetworkInterfaces token="eth0">
    <tt:Enabled>true</tt:Enabled>
    <tt:Info><tt:Name>eth0</tt:Name><tt:HwAddress>${mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>
    <tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config>
      <tt:Manual><tt:Address>${address}</tt:Address><tt:PrefixLength>24</tt:PrefixLength></tt:Manual>
      <tt:DHCP>false</tt:DHCP>
    </tt:Config></tt:IPv4>
  </tds:NetworkInterfaces>
</tds:GetNetworkInterfacesResponse>
"""


@dataclass(frozen=True, slots=True)
class Personality:
    """Everything one camera firmware answers, by operation name."""

    name: str
    replies: dict[str, Reply]
    manufacturer: str
    model: str
    firmware: str

    @classmethod
    def load(cls, name: str) -> Personality:
        replies: dict[str, Reply] = {}
        for file in sorted(CAPTURES.glob(f"{name}_*.xml")):
            operation = file.stem.split("_", 1)[1]
            replies[operation] = _template(file)
        for file in sorted(CAPTURES.glob(f"{RECORDING_SOURCE}_*.xml")):
            replies.setdefault(file.stem.split("_", 1)[1], _template(file))
        reference = CAPTURES / f"{name}_GetSystemDateAndTime.xml"
        replies["GetNetworkInterfaces"] = _envelope_around(reference, _NETWORK_INTERFACES)
        info = etree.fromstring(
            (CAPTURES / f"{name}_GetDeviceInformation.xml").read_bytes(), _SAFE_PARSER
        )
        fields = {_localname(e): (e.text or "") for e in info.iter() if isinstance(e.tag, str)}
        return cls(
            name, replies, fields["Manufacturer"], fields["Model"], fields["FirmwareVersion"]
        )


def load_personalities() -> dict[str, Personality]:
    return {name: Personality.load(name) for name in PERSONALITIES}


NOT_AUTHORIZED = _template(CAPTURES / "vivotek-unnamed_Fault-NotAuthorized.xml")
ACTION_NOT_SUPPORTED = _template(CAPTURES / "ipnc-ipg8150pss_Fault-ActionNotSupported.xml")


def clock_values(device_time: float, utc_offset_s: int = 8 * 3600) -> dict[str, str]:
    """Placeholder values for GetSystemDateAndTime (China Standard Time as local time)."""
    utc = datetime.fromtimestamp(device_time, UTC)
    local = datetime.fromtimestamp(device_time + utc_offset_s, UTC)
    values: dict[str, str] = {}
    for prefix, moment in (("utc", utc), ("local", local)):
        values |= {
            f"{prefix}_hour": str(moment.hour),
            f"{prefix}_minute": str(moment.minute),
            f"{prefix}_second": str(moment.second),
            f"{prefix}_year": str(moment.year),
            f"{prefix}_month": str(moment.month),
            f"{prefix}_day": str(moment.day),
        }
    return values


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
