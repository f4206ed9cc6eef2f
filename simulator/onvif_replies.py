"""ONVIF replies built from real cameras' captured SOAP, per vendor personality.

Each personality is one real camera's captures (``captures/onvif/<device>_<Operation>.xml``),
so namespace prefixes (``s:``, ``env:``, ``SOAP-ENV:``), extra elements and envelope
declarations are exactly what that firmware sends. At load time every value that must
change per camera or per moment (clock, serial, addresses, recording span) is turned
into a ``string.Template`` placeholder once; answering a request is one substitution.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape  # nosec B406  # escapes the text we send; parses nothing

from lxml import etree

CAPTURES = Path(__file__).resolve().parent / "captures" / "onvif"

# Personalities: three camera firmwares with complete Device + Media captures.
PERSONALITIES = ("ipnc-ipg8150pss", "noname-ipdh4k8m05bs", "onvif-enp1a14ir25x")
RECORDING_SOURCE = "profileg-unnamed"

_URL = re.compile(rb"(https?|rtsp)://127\.0\.0\.1(?::\d+)?")
_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)

_STREAM_URI_PARENTS = ("MediaUri", "GetStreamUriResponse")  # Media1, Media2
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
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
        elif name == "Uri" and parent is not None and _localname(parent) in _STREAM_URI_PARENTS:
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


_MEDIA2 = "http://www.onvif.org/ver20/media/wsdl"
MEDIA1_NS = "http://www.onvif.org/ver10/media/wsdl"
MEDIA2_NS = _MEDIA2


def _media2_configurations(profiles_capture: Path, reference: Path) -> dict[str, Reply]:
    """Media2's GetVideoSource/EncoderConfigurations, which no capture has, from the
    configurations inside the firmware's own Media1 GetProfiles reply (a camera that
    offers Media2 answers them; clients such as agsh/onvif ask for them on connect)."""
    tree = etree.fromstring(profiles_capture.read_bytes(), _SAFE_PARSER)
    replies = {}
    for operation, element in (
        ("GetVideoSourceConfigurations", "VideoSourceConfiguration"),
        ("GetVideoEncoderConfigurations", "VideoEncoderConfiguration"),
    ):
        seen: dict[str, etree._Element] = {}
        for found in tree.iter():
            if isinstance(found.tag, str) and _localname(found) == element:
                seen.setdefault(found.get("token", ""), found)
        parts = []
        for found in seen.values():
            renamed = copy.deepcopy(found)
            renamed.tag = f"{{{_MEDIA2}}}Configurations"
            parts.append(etree.tostring(renamed, encoding="unicode"))
        body = (
            f'<tr2:{operation}Response xmlns:tr2="{_MEDIA2}">{"".join(parts)}'
            f"</tr2:{operation}Response>"
        )
        replies[f"media2-{operation}"] = _envelope_around(reference, body)
    replies["media2-GetProfiles-typed"] = _envelope_around(reference, _media2_profiles(tree))
    return replies


def _media2_profiles(media1_profiles: etree._Element) -> str:
    """Media2 GetProfiles asked with a Type: each profile with its configurations (a
    request without one gets the captured reply, names and tokens only, per the spec)."""
    parts = []
    for profile in media1_profiles.iter():
        if not (isinstance(profile.tag, str) and _localname(profile) == "Profiles"):
            continue
        name = next((e.text or "" for e in profile if _localname(e) == "Name"), "")
        configurations = []
        for element, kind in (
            ("VideoSourceConfiguration", "VideoSource"),
            ("VideoEncoderConfiguration", "VideoEncoder"),
        ):
            found = next((e for e in profile if _localname(e) == element), None)
            if found is not None:
                inner = "".join(etree.tostring(child, encoding="unicode") for child in found)
                configurations.append(
                    f'<tr2:{kind} token="{found.get("token", "")}">{inner}</tr2:{kind}>'
                )
        parts.append(
            f'<tr2:Profiles token="{profile.get("token", "")}" fixed="true">'
            f"<tr2:Name>{name}</tr2:Name>"
            f"<tr2:Configurations>{''.join(configurations)}</tr2:Configurations></tr2:Profiles>"
        )
    return (
        f'<tr2:GetProfilesResponse xmlns:tr2="{_MEDIA2}">{"".join(parts)}</tr2:GetProfilesResponse>'
    )


@dataclass(frozen=True, slots=True)
class Personality:
    """Everything one camera firmware answers, by operation name."""

    name: str
    replies: dict[str, Reply]
    manufacturer: str
    model: str
    firmware: str
    profile_tokens: frozenset[str]
    codec: str  # the main profile's video encoding, which its RTSP SDP must announce

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
        if "media2-GetProfiles" in replies:
            replies |= _media2_configurations(CAPTURES / f"{name}_GetProfiles.xml", reference)
        info = etree.fromstring(
            (CAPTURES / f"{name}_GetDeviceInformation.xml").read_bytes(), _SAFE_PARSER
        )
        fields = {_localname(e): (e.text or "") for e in info.iter() if isinstance(e.tag, str)}
        profiles = etree.fromstring(
            (CAPTURES / f"{name}_GetProfiles.xml").read_bytes(), _SAFE_PARSER
        )
        tokens = frozenset(
            e.get("token", "")
            for e in profiles.iter()
            if isinstance(e.tag, str) and _localname(e) == "Profiles"
        )
        codec = next(
            (
                e.text
                for e in profiles.iter()
                if isinstance(e.tag, str)
                and _localname(e) == "Encoding"
                and e.text in ("H264", "H265")
            ),
            "H264",
        )
        return cls(
            name,
            replies,
            fields["Manufacturer"],
            fields["Model"],
            fields["FirmwareVersion"],
            tokens,
            codec or "H264",
        )


def load_personalities() -> dict[str, Personality]:
    return {name: Personality.load(name) for name in PERSONALITIES}


NOT_AUTHORIZED = _template(CAPTURES / "vivotek-unnamed_Fault-NotAuthorized.xml")
ACTION_NOT_SUPPORTED = _template(CAPTURES / "ipnc-ipg8150pss_Fault-ActionNotSupported.xml")
OPERATION_PROHIBITED = _template(
    CAPTURES / "onvif-enp1a14ir25x_Fault-OperationProhibited-Password.xml"
)
_NO_PROFILE_BODY = """<env:Fault><env:Code><env:Value>env:Sender</env:Value>
<env:Subcode><env:Value>ter:InvalidArgVal</env:Value>
<env:Subcode><env:Value>ter:NoProfile</env:Value></env:Subcode></env:Subcode></env:Code>
<env:Reason><env:Text xml:lang="en">Profile token does not exist.</env:Text></env:Reason>
</env:Fault>"""
NO_PROFILE = _envelope_around(
    CAPTURES / "vivotek-unnamed_Fault-NotAuthorized.xml", _NO_PROFILE_BODY
)


def as_soap11(body: bytes) -> bytes:
    """The same reply as an older firmware sends it: a SOAP 1.1 envelope, and a fault in
    1.1's form (gSOAP puts the ONVIF subcode in ``faultcode``)."""
    root = etree.fromstring(body, _SAFE_PARSER)
    fault = next(
        (e for e in root.iter() if isinstance(e.tag, str) and _localname(e) == "Fault"), None
    )
    if fault is None:
        return body.replace(SOAP12.encode(), SOAP11.encode())
    values = [
        e.text or "" for e in fault.iter() if isinstance(e.tag, str) and _localname(e) == "Value"
    ]
    text = next(
        (e.text or "" for e in fault.iter() if isinstance(e.tag, str) and _localname(e) == "Text"),
        "",
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP11}" xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>{values[-1].strip()}</faultcode>"
        f"<faultstring>{escape(text.strip())}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


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


def _elements(root: etree._Element, name: str) -> list[etree._Element]:
    return [e for e in root.iter() if isinstance(e.tag, str) and _localname(e) == name]


def local_time_only(body: bytes) -> bytes:
    """A GetSystemDateAndTime reply as firmwares send it with no UTCDateTime: local time
    (China Standard Time, as rendered) and the zone the way Hikvision writes it."""
    root = etree.fromstring(body, _SAFE_PARSER)
    for utc in _elements(root, "UTCDateTime"):
        parent = utc.getparent()
        assert parent is not None
        parent.remove(utc)
    for tz in _elements(root, "TZ"):
        tz.text = "CST-8:00:00"
    for flag in _elements(root, "DaylightSavings"):
        flag.text = "false"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# What Chinese firmware puts in GetDeviceInformation (海康威视 / 网络摄像机).
CHINESE_NAMES = {"Manufacturer": "海康威视", "Model": "网络摄像机"}


def _with_chinese_names(body: bytes) -> etree._Element:
    root = etree.fromstring(body, _SAFE_PARSER)
    for name, words in CHINESE_NAMES.items():
        for element in _elements(root, name):
            element.text = words
    return root


def gbk_names_declared_utf8(body: bytes) -> bytes:
    """GetDeviceInformation whose Chinese names are GBK bytes while the document says
    UTF-8: not well-formed XML to a strict parser (lxml, so onvif-zeep), read with
    replacement characters by clients that decode leniently (npm ``onvif``)."""
    root = _with_chinese_names(body)
    text = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    for words in CHINESE_NAMES.values():
        text = text.replace(words.encode(), words.encode("gbk"))
    return text


def in_gb2312(body: bytes) -> bytes:
    """The reply in GB2312 with no XML declaration (Chinese names in GetDeviceInformation):
    only the HTTP Content-Type says which charset it is."""
    root = _with_chinese_names(body) if b"GetDeviceInformationResponse" in body else None
    if root is None:
        root = etree.fromstring(body, _SAFE_PARSER)
    return etree.tostring(root, encoding="unicode").encode("gb2312")


def media_moved(body: bytes, port: int) -> bytes:
    """GetServices/GetCapabilities with the media services' XAddrs on ``port``."""
    root = etree.fromstring(body, _SAFE_PARSER)
    media = {MEDIA1_NS, _MEDIA2}
    xaddrs = [
        xaddr
        for service in _elements(root, "Service")
        if (service.findtext("{*}Namespace") or "").strip() in media
        for xaddr in _elements(service, "XAddr")
    ]
    xaddrs += [x for capability in _elements(root, "Media") for x in _elements(capability, "XAddr")]
    for xaddr in xaddrs:
        parts = urlsplit((xaddr.text or "").strip())
        xaddr.text = urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
