"""One language at a time: find the English words left in a Chinese page, table or report.

What may stay in Latin letters: protocol and format names a Chinese engineer uses as
they are (ONVIF, RTSP, SNMP, XLSX…), units, and what the reader types back as it is
(a ``--option``, a config key such as ``backup_fiber`` or ``values.kind``, a quoted
cell value, an id such as ``CAM000012`` or ``SW-CL-01``, a file name). Everything else
is an English word that should have come from the catalogue in Chinese.
"""

from __future__ import annotations

import re

ALLOWED = frozenset(
    {
        # Protocols, formats, standards
        *("ONVIF", "RTSP", "SNMP", "SNMPv2c", "SNMPv3", "MQTT", "HTTP", "HTTPS", "TCP", "UDP"),
        *("IP", "IPv4", "IPv6", "MAC", "DNS", "NTP", "API", "URL", "SSE", "TLS", "PoE"),
        *("XLSX", "CSV", "PDF", "PNG", "JSON", "YAML", "HTML", "UTF", "GBK", "GB", "Big5"),
        *("SHA", "Ed25519", "SLA", "ID", "NVR", "DVR", "PTZ", "OpenAPI", "Webhook"),
        *("UTC", "CNY", "Excel", "WPS", "BOM", "slawatch", "IANA"),
        # The language switch names the other language in its own words
        "English",
        # Units
        *("ms", "min", "MB", "KB", "kbps", "Mbps", "fps"),
        # Keys of the ledger map the administrator edits (written as they must be typed)
        *("defaults", "values", "columns", "sheet", "base"),
        # Sections of an inventory, named as they are typed (add an ``snmp`` section)
        *("onvif", "snmp", "tcp", "rtsp", "uplink"),
        # Vendors and their products, named as on the device's label
        *("Hikvision", "Dahua", "Uniview", "Huawei", "H3C", "Axis", "Tiandy"),
    }
)
# What is typed or read back verbatim, removed before looking for words.
_VERBATIM = re.compile(
    r"""(?m)^\S*:\d+:\ [^\s:]+:            # a config problem's FILE:LINE: key.path[2]:
    | \{[^{}\n]*\}                       # YAML typed as it is ({env: NAME})
    | \bslawatch-\w+(?:\ +[a-z][\w-]*)*  # one of our commands, with its subcommands
    | '[^'\n]*'|"[^"\n]*"               # a quoted cell value
    | --?[A-Za-z][\w-]*                  # a command-line option
    | \b\w+(?:[._:/-]\w+)+\b             # a key path, id, address, file name (a.b, SW-01)
    | \b\w*_\w*\b                        # a config key (backup_fiber)
    | \b\w*\d\w*\b                       # an id or a model with digits (CAM000012, DS-2CD)
    | https?://\S+                       # a link
    """,
    re.VERBOSE,
)
_WORD = re.compile(r"[A-Za-z]{2,}")  # a single letter is a symbol (字母 O), not a word


def english_words(text: str, allowed: frozenset[str] = ALLOWED) -> list[str]:
    """The English words in ``text`` that are not allowed in a Chinese page."""
    plain = _VERBATIM.sub(" ", text)
    return [word for word in _WORD.findall(plain) if word not in allowed]
