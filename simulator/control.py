"""HTTP/JSON control endpoint: inject and clear faults in a running fleet from outside.

    POST   /faults   {"target": "CAM000001", "fault": "down", "mode": "refused"}
    DELETE /faults   {"target": "link:L0003"}               (one fault: add "fault")
    POST   /quirks   {"target": "CAM000001", "quirk": "onvif_digest_only"}  (real firmware)
    DELETE /quirks   {"target": "CAM000001", "quirk": "onvif_digest_only"}
    POST   /reboot   {"target": "DH000001"}
    POST   /power-restored
    GET    /devices/{id}   what the device is doing now
    GET    /stats          devices and requests answered

Bind it to loopback: whoever reaches it can break the simulated network.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from simulator.devices import Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet, UnknownTargetError

FLEET: web.AppKey[Fleet] = web.AppKey("fleet", Fleet)


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
    fault: Fault | None = None
    mode: str | None = None
    seconds: float | None = None


class QuirkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str
    quirk: Quirk


Body = TypeVar("Body", bound=BaseModel)


async def _parse(request: web.Request, model: type[Body]) -> Body:
    try:
        return model.model_validate_json(await request.read())
    except ValidationError as exc:
        raise web.HTTPBadRequest(
            text=exc.json(include_url=False), content_type="application/json"
        ) from exc


def _errors_as_json(handler: Any) -> Any:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response: web.StreamResponse = await handler(request)
        except UnknownTargetError as exc:
            raise web.HTTPNotFound(text=str(exc)) from exc
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return response

    return wrapped


@_errors_as_json
async def inject(request: web.Request) -> web.Response:
    body = await _parse(request, FaultRequest)
    if body.fault is None:
        raise web.HTTPBadRequest(text="fault is required")
    fleet = request.app[FLEET]
    reached = await fleet.inject(body.target, FaultSpec(body.fault, body.mode, body.seconds))
    return web.json_response({"target": body.target, "fault": body.fault, "devices": reached})


@_errors_as_json
async def clear(request: web.Request) -> web.Response:
    body = await _parse(request, FaultRequest)
    reached = await request.app[FLEET].clear(body.target, body.fault)
    return web.json_response({"target": body.target, "cleared": body.fault, "devices": reached})


@_errors_as_json
async def give_quirk(request: web.Request) -> web.Response:
    body = await _parse(request, QuirkRequest)
    request.app[FLEET].give(body.target, body.quirk)
    return web.json_response({"target": body.target, "quirk": body.quirk})


@_errors_as_json
async def take_quirk(request: web.Request) -> web.Response:
    body = await _parse(request, QuirkRequest)
    request.app[FLEET].take_away(body.target, body.quirk)
    return web.json_response({"target": body.target, "removed": body.quirk})


@_errors_as_json
async def reboot(request: web.Request) -> web.Response:
    body = await _parse(request, FaultRequest)
    request.app[FLEET].reboot(body.target)
    return web.json_response({"target": body.target, "rebooted": True})


async def power_restored(request: web.Request) -> web.Response:
    await request.app[FLEET].power_restored()
    return web.json_response({"restored": True})


async def device(request: web.Request) -> web.Response:
    fleet = request.app[FLEET]
    found = fleet.by_id.get(request.match_info["device_id"])
    if found is None:
        raise web.HTTPNotFound(text="no such device")
    mode = found.reachable_mode()
    return web.json_response(
        {
            "id": found.id,
            "kind": found.spec.kind,
            "faults": sorted(found.faults),
            "quirks": sorted(found.quirks),
            "unreachable": None if mode is None else str(mode),
            "cut_off": found.cut_off,
            "uptime_s": found.uptime_ticks() / 100,
            "down_ports": sorted(found.down_ports, key=str),
            "port_states": {str(port): state for port, state in found.port_states.items()},
        }
    )


async def stats(request: web.Request) -> web.Response:
    fleet = request.app[FLEET]
    return web.json_response({"devices": len(fleet.devices), "requests": fleet.requests})


def control_app(fleet: Fleet) -> web.Application:
    app = web.Application()
    app[FLEET] = fleet
    app.router.add_post("/faults", inject)
    app.router.add_delete("/faults", clear)
    app.router.add_post("/quirks", give_quirk)
    app.router.add_delete("/quirks", take_quirk)
    app.router.add_post("/reboot", reboot)
    app.router.add_post("/power-restored", power_restored)
    app.router.add_get("/devices/{device_id}", device)
    app.router.add_get("/stats", stats)
    return app
