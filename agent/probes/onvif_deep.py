"""Deep camera checks on a slower cadence: clock, credentials, live video, recordings.

Through the SOAP client of ``onvif_soap.py`` (why not onvif-zeep-async: see there).
The rules, in ``docs/agent.md``: a camera that answers anything, a fault included, is
alive; a wrong password is ``auth_failed`` (degraded, not offline); an operation the
camera refuses for another reason is ``unsupported`` on that check and changes nothing
else; Media2 is used where offered, Media1 otherwise, each falling back to the other;
every address the camera advertises is rewritten to the inventory's (NAT).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from lxml import etree

from agent.probes.base import ProbeResult, Target, combine, connection_reason, why
from agent.probes.camera_clock import camera_clock
from agent.probes.onvif_soap import (
    DEVICE_NS,
    MEDIA1_NS,
    MEDIA2_NS,
    SEARCH_NS,
    BadReplyError,
    CameraBook,
    CameraMemory,
    HttpStatusError,
    OnvifClient,
    SoapFaultError,
    find,
    text_of,
)
from agent.probes.rtsp import RtspAuthError, StreamUnavailableError, describe, masked
from agent.wire import Health, Reason
from slawatch.config.inventory import Device
from slawatch.messages import Said

_MEDIA1_STREAM_SETUP = (
    "<StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>"
    "<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></StreamSetup>"
)


def device_url(device: Device) -> str:
    onvif = device.onvif
    assert onvif is not None
    scheme = "https" if onvif.tls else "http"
    return f"{scheme}://{_host(device.address)}:{onvif.port}{onvif.path}"


def reason_of(exc: BaseException) -> Reason:
    """A failed SOAP call as a reason: refusals of credentials are ``auth_failed``."""
    if isinstance(exc, SoapFaultError):
        return Reason.AUTH_FAILED if exc.not_authorized else Reason.UNSUPPORTED
    if isinstance(exc, HttpStatusError):
        return Reason.AUTH_FAILED if exc.status == 401 else Reason.BAD_RESPONSE
    if isinstance(exc, BadReplyError | etree.XMLSyntaxError):
        return Reason.BAD_RESPONSE
    return connection_reason(exc)


def answered(exc: BaseException) -> bool:
    """A SOAP fault, an HTTP status or a reply we cannot read is an answer: the camera is
    alive (a field it got wrong is that check's ``unsupported``, with a note)."""
    return isinstance(exc, SoapFaultError | HttpStatusError | BadReplyError)


def _failed(operation: str, exc: BaseException) -> Said:
    """A note: which operation (or stream) failed, and how."""
    return Said("why.operation", operation=operation, why=why(exc))


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _behind_nat(advertised: str, device: Device) -> bool:
    """The camera advertises an address other than the inventory's: port forwarding (NAT)."""
    return (urlsplit(advertised).hostname or "") != device.address


def rewrite_xaddr(advertised: str, device: Device) -> tuple[str, str | None]:
    """The service address to call, and why it differs from the advertised one.

    Only what NAT changes is rewritten: an address at the inventory's host is used as
    advertised (a media service on 8080 beside the device service on 8000 stays on 8080);
    one at another host gets the inventory's host and ONVIF port, the one the port
    forwarding is known to pass.
    """
    if not _behind_nat(advertised, device):
        return advertised, None
    base = urlsplit(device_url(device))
    used = urlunsplit(urlsplit(advertised)._replace(scheme=base.scheme, netloc=base.netloc))
    return used, Said("why.nat", advertised=urlsplit(advertised).netloc, used=base.netloc)


def rewrite_stream_uri(advertised: str, device: Device) -> tuple[str, str | None]:
    """The RTSP URI to open, and why it differs from the advertised one.

    ``user:pass@`` is kept (a camera with no inventory credentials is opened with them).
    The host and port are changed only behind NAT (to the inventory's address and RTSP
    port); a path the inventory gives replaces the advertised one.
    """
    parts = urlsplit(advertised)
    rtsp = device.rtsp
    changes: list[str] = []
    if _behind_nat(advertised, device):
        port = rtsp.port if rtsp is not None else (parts.port or 554)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@" if userinfo else ""
        parts = parts._replace(netloc=f"{netloc}{_host(device.address)}:{port}")
        used = f"{_host(device.address)}:{port}"
        changes.append(Said("why.nat", advertised=parts_host(advertised), used=used))
    if rtsp is not None and rtsp.path and rtsp.path != parts.path:
        parts = parts._replace(path=rtsp.path, query="")
        changes.append(Said("why.inventory_path", path=rtsp.path))
    return urlunsplit(parts), Said("why.list", items=tuple(changes)) if changes else None


def parts_host(uri: str) -> str:
    """``host:port`` of a URI, without any ``user:pass@``."""
    parts = urlsplit(uri)
    host = _host(parts.hostname or "")
    return f"{host}:{parts.port}" if parts.port else host


async def read_camera_clock(
    client: OnvifClient, url: str, memory: CameraMemory
) -> tuple[float | None, str | None]:
    """GetSystemDateAndTime (with credentials when the camera wants them): the offset of
    its clock from ours, which is remembered for stamping tokens in its time, and a note
    when the reply's time had to be worked out (or could not be placed in UTC: None)."""
    sent = time.time()
    if memory.time_needs_auth:
        reply = await client.call(url, DEVICE_NS, "GetSystemDateAndTime")
    else:
        try:
            reply = await client.call_anonymous(url, DEVICE_NS, "GetSystemDateAndTime")
        except (SoapFaultError, HttpStatusError) as exc:
            if isinstance(exc, SoapFaultError) and not exc.not_authorized:
                raise
            if isinstance(exc, HttpStatusError) and exc.status != 401:
                raise
            memory.time_needs_auth = True  # Vivotek, some Hikvision firmwares: proof of life
            reply = await client.call(url, DEVICE_NS, "GetSystemDateAndTime")
    received = time.time()
    clock = camera_clock(reply)
    offset = clock.offset_s((sent + received) / 2)
    if offset is not None:
        memory.clock_offset_s = offset
    return offset, clock.note


class OnvifDeepProbe:
    protocol = "onvif"

    def __init__(
        self,
        timeout_s: float,
        recording_tolerance_s: float,
        cameras: CameraBook,
    ) -> None:
        self._timeout_s = timeout_s
        self._tolerance_s = recording_tolerance_s
        self._cameras = cameras

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        device, credentials = target.device, target.credentials
        memory = self._cameras.of(device.id)
        client = self._cameras.client(device.id, credentials.username, credentials.password)
        try:
            async with asyncio.timeout(self._timeout_s * 4):
                result = await self._checks(client, target, memory)
        except Exception as exc:  # noqa: BLE001 - whatever the camera does is data
            result = ProbeResult.down(reason_of(exc), "liveness")
            if result.reason is Reason.BAD_RESPONSE:  # say what was wrong with it
                memory.notes["liveness"] = why(exc)
        return replace(result, notes=result.notes | memory.notes)

    async def _checks(
        self, client: OnvifClient, target: Target, memory: CameraMemory
    ) -> ProbeResult:
        device = target.device
        url = device_url(device)
        memory.notes.clear()  # this check's explanation, not the last one's
        try:
            _, note = await read_camera_clock(client, url, memory)  # tokens in its time
        except Exception as exc:
            if answered(exc) and reason_of(exc) is Reason.AUTH_FAILED:
                return self._auth_failed(memory)
            raise
        if note is not None:
            memory.notes["clock"] = note
        results = []
        try:
            info = await client.call(url, DEVICE_NS, "GetDeviceInformation")
        except Exception as exc:
            if not answered(exc):
                raise
            if reason_of(exc) is Reason.AUTH_FAILED:
                return self._auth_failed(memory)
            memory.notes["device_info"] = _failed("GetDeviceInformation", exc)
            checks = {"credentials": Reason.OK, "device_info": Reason.UNSUPPORTED}
            results.append(ProbeResult.up(checks))
        else:
            # Credentials are judged only when the inventory gives some.
            judged = target.credentials.username is not None
            results.append(ProbeResult.up({"credentials": Reason.OK} if judged else {}))
            memory.notes["device"] = " ".join(
                text_of(info, name) or "?" for name in ("Manufacturer", "Model", "FirmwareVersion")
            )
        if memory.auth is not None:
            memory.notes["onvif_auth"] = memory.auth.value
        elif target.credentials.username is None:
            memory.notes["onvif_auth"] = Said("why.no_credentials")
        xaddrs = await self._services(client, url, device, memory)
        results.append(await self._stream(client, xaddrs, target, memory))
        if SEARCH_NS in xaddrs:
            results.append(await self._recording(client, xaddrs[SEARCH_NS], memory))
        return combine(*results)

    @staticmethod
    def _auth_failed(memory: CameraMemory) -> ProbeResult:
        memory.notes["onvif_auth"] = Said("why.auth_refused")
        return ProbeResult(Health.DEGRADED, Reason.AUTH_FAILED, {"credentials": Reason.AUTH_FAILED})

    async def _services(
        self, client: OnvifClient, url: str, device: Device, memory: CameraMemory
    ) -> dict[str, str]:
        """Service addresses by namespace, from GetServices or else GetCapabilities."""
        advertised: dict[str, str] = {}
        try:
            reply = await client.call(
                url, DEVICE_NS, "GetServices", "<IncludeCapability>false</IncludeCapability>"
            )
            for service in reply.iter():
                if isinstance(service.tag, str) and etree.QName(service).localname == "Service":
                    namespace, xaddr = text_of(service, "Namespace"), text_of(service, "XAddr")
                    if namespace and xaddr:
                        advertised[namespace] = xaddr
        except (SoapFaultError, HttpStatusError, BadReplyError):
            try:
                reply = await client.call(
                    url, DEVICE_NS, "GetCapabilities", "<Category>All</Category>"
                )
            except (SoapFaultError, HttpStatusError, BadReplyError) as exc:
                memory.notes["services"] = _failed("GetServices, GetCapabilities", exc)
                return {}  # the media service is then asked at the device's address
            for name, namespace in (("Media", MEDIA1_NS), ("Search", SEARCH_NS)):
                xaddr = text_of(reply, name, "XAddr")
                if xaddr:
                    advertised[namespace] = xaddr
        rewritten = {}
        for namespace, xaddr in advertised.items():
            rewritten[namespace], rewrite = rewrite_xaddr(xaddr, device)
            if rewrite is not None:
                memory.notes["nat"] = rewrite
        return rewritten

    async def _stream(
        self, client: OnvifClient, xaddrs: dict[str, str], target: Target, memory: CameraMemory
    ) -> ProbeResult:
        order = [ns for ns in (MEDIA2_NS, MEDIA1_NS) if ns in xaddrs] or [MEDIA1_NS]
        if order[0] == MEDIA2_NS and MEDIA1_NS not in order:
            order.append(MEDIA1_NS)  # some cameras list only Media2 yet answer Media1
        advertised: str | None = None
        failure: BaseException | None = None
        for namespace in order:
            address = xaddrs.get(namespace, device_url(target.device))
            try:
                advertised = await self._stream_uri(client, address, namespace)
            except (SoapFaultError, HttpStatusError, BadReplyError) as exc:
                failure = failure or exc
                continue
            memory.notes["media"] = "Media2" if namespace == MEDIA2_NS else "Media1"
            memory.notes["media_service"] = address
            break
        if advertised is None:
            assert failure is not None
            reason = reason_of(failure)
            memory.notes["stream"] = _failed("GetStreamUri", failure)
            if reason is Reason.UNSUPPORTED:  # no media service to ask: nothing to judge
                return ProbeResult.up({"stream": reason})
            return ProbeResult(Health.DEGRADED, reason, {"stream": reason})
        uri, rewrite = rewrite_stream_uri(advertised, target.device)
        if rewrite is not None:
            memory.notes["stream_uri"] = rewrite
        credentials = target.credentials
        try:
            described = await describe(
                uri, credentials.username, credentials.password, self._timeout_s
            )
        except RtspAuthError as exc:
            memory.notes["rtsp_auth"] = Said("why.refused", why=why(exc))
            return ProbeResult(Health.DEGRADED, Reason.AUTH_FAILED, {"stream": Reason.AUTH_FAILED})
        except (StreamUnavailableError, TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            memory.notes["stream"] = _failed(masked(uri), exc)
            return ProbeResult(
                Health.DEGRADED, Reason.STREAM_UNAVAILABLE, {"stream": Reason.STREAM_UNAVAILABLE}
            )
        memory.notes["rtsp_auth"] = (
            Said("why.auth_from_uri", auth=described.auth) if described.from_uri else described.auth
        )
        if described.redirects:
            memory.notes["rtsp_redirect"] = "; ".join(described.redirects)
        return ProbeResult.up({"stream": Reason.OK})

    @staticmethod
    async def _stream_uri(client: OnvifClient, address: str, namespace: str) -> str:
        profiles = await client.call(
            address,
            namespace,
            "GetProfiles",
            "<Type>VideoEncoder</Type>" if namespace == MEDIA2_NS else "",
        )
        profile = find(profiles, "Profiles")
        token = profile.get("token") if profile is not None else None
        if not token:
            raise BadReplyError(Said("why.no_profile"))
        if namespace == MEDIA2_NS:
            inner = f"<Protocol>RtspUnicast</Protocol><ProfileToken>{token}</ProfileToken>"
            reply = await client.call(address, namespace, "GetStreamUri", inner)
            uri = text_of(reply, "Uri")
        else:
            inner = f"{_MEDIA1_STREAM_SETUP}<ProfileToken>{token}</ProfileToken>"
            reply = await client.call(address, namespace, "GetStreamUri", inner)
            uri = text_of(reply, "MediaUri", "Uri")
        if not uri:
            raise BadReplyError(Said("why.no_stream_uri"))
        return uri

    async def _recording(
        self, client: OnvifClient, address: str, memory: CameraMemory
    ) -> ProbeResult:
        try:
            summary = await client.call(address, SEARCH_NS, "GetRecordingSummary")
            until_text = text_of(summary, "DataUntil")
            if until_text is None:
                raise BadReplyError(Said("why.no_data_until"))
            until = datetime.fromisoformat(until_text)
        except (SoapFaultError, HttpStatusError, BadReplyError, ValueError) as exc:
            reason = reason_of(exc) if not isinstance(exc, ValueError) else Reason.BAD_RESPONSE
            memory.notes["recording"] = _failed("GetRecordingSummary", exc)
            if reason is Reason.UNSUPPORTED:
                return ProbeResult.up({"recording": reason})
            return ProbeResult(Health.DEGRADED, reason, {"recording": reason})
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        lag = (datetime.now(UTC) - until).total_seconds()
        if lag > self._tolerance_s:
            checks = {"recording": Reason.NO_RECENT_RECORDING}
            return ProbeResult(
                Health.DEGRADED, Reason.NO_RECENT_RECORDING, checks, {"recording_lag_s": lag}
            )
        return ProbeResult.up({"recording": Reason.OK}, recording_lag_s=max(lag, 0.0))
