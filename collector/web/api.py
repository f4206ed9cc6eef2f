"""The collector's HTTP API: tickets, device states, health and metrics; acknowledge and
reload the inventory.

Every route needs a console session or a bearer token (the service token of
``api.token``, or a user's personal token): reads at the viewer's level, changes at the
operator's or admin's (docs/security.md has the table). ``/metrics`` and ``/healthz``
alone may be opened by ``api.open_metrics`` / ``api.open_health`` for a scraper that
sends no token. Every handler is ``async``: FastAPI would run plain functions on a
thread pool, and the pipeline and its SQLite connection belong to the event loop's
thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from collector.ledger.store import StoreUnavailableError
from collector.pipeline.faults import UnknownTicketError
from collector.pipeline.pipeline import ticket_body
from collector.web.console.auth import Access, Caller
from collector.web.console.refusals import Refused
from collector.web.console.sessions import Sessions
from collector.web.console.users import Role, Users
from collector.web.headers import SecurityHeaders
from collector.web.metrics import exposition
from slawatch.config.errors import ConfigError

if TYPE_CHECKING:
    from collector.service import Collector


READS = frozenset({"GET", "HEAD", "OPTIONS"})
OWN = frozenset({"/login", "/logout"})  # what a standby's console still takes


class AckRequest(BaseModel):
    by: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


class GapClose(BaseModel):
    epoch: str | None = None
    first: int = Field(ge=0)
    last: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=500)


def create_app(collector: Collector) -> FastAPI:
    # /docs is the console's (Swagger UI served locally, no CDN, behind login); the
    # schema is served below, behind login too.
    async def writable(request: Request) -> None:
        """A standby collector's console and API are read-only: every change is refused
        (the active one writes the ledger). Logging in and out changes this server's
        sessions only."""
        if collector.standby and request.method not in READS and request.url.path not in OWN:
            raise Refused(503, "refused.standby")

    app = FastAPI(
        title="slawatch collector",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(writable)],
    )

    @app.exception_handler(StoreUnavailableError)
    async def store_unavailable(request: Request, exc: StoreUnavailableError) -> Response:
        """A change asked for while the ledger's disk takes no commit: nothing was done,
        and saying so (try again) is the answer, not a server error."""
        return JSONResponse(
            {"detail": f"the ledger takes no change now ({exc}); nothing was done, try again"},
            status_code=503,
            headers={"retry-after": "10"},
        )

    console = collector.settings.console
    api = collector.settings.api
    assert api is not None  # create_app serves the api section
    sessions = (
        Sessions(console.idle_timeout.total_seconds(), console.absolute_timeout.total_seconds())
        if console
        else None
    )
    access = Access(
        Users(console.users) if console else None,
        sessions,
        collector.token_matches,
        console.allowed_origins if console else [],
    )

    # Local dependencies, given as ``Depends`` defaults (noqa B008 below): ``Annotated``
    # cannot name a local of ``create_app`` under this module's postponed annotations.
    async def viewer(request: Request) -> Caller:
        return access.require(request, Role.VIEWER, changes=False)

    async def operator(request: Request) -> Caller:
        return access.require(request, Role.OPERATOR)

    async def admin(request: Request) -> Caller:
        return access.require(request, Role.ADMIN)

    async def nobody() -> None:
        """An opened route (``open_metrics``, ``open_health``): no caller needed."""

    @app.get("/healthz", dependencies=[Depends(nobody if api.open_health else viewer)])
    async def health() -> Response:
        """503 while the ledger's disk takes no commit (``store`` says why): the
        collector runs, but acknowledges nothing; 503 on a standby (``role``), so a load
        balancer sends people to the active one."""
        status = collector.status()
        code = 200 if status["store"]["ok"] and not collector.standby else 503
        return JSONResponse(jsonable_encoder(status), status_code=code)

    @app.get("/metrics", dependencies=[Depends(nobody if api.open_metrics else viewer)])
    async def metrics() -> Response:
        return Response(exposition(collector, app.state.hub), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(viewer)])
    async def schema() -> dict[str, Any]:
        return app.openapi()

    @app.get("/alerts/deliveries", dependencies=[Depends(viewer)])
    async def deliveries() -> list[dict[str, Any]]:
        """The latest delivery attempts, newest first (receiver, outcome, error)."""
        return [asdict(attempt) for attempt in reversed(collector.notifier.attempts)]

    @app.get("/tickets", dependencies=[Depends(viewer)])
    async def tickets(open_only: bool = True) -> list[dict[str, Any]]:
        faults = collector.pipeline.faults
        chosen = faults.open_tickets() if open_only else iter(faults.tickets.values())
        return [ticket_body(ticket) for ticket in chosen if ticket.merged_into is None]

    @app.get("/devices/{device_id}", dependencies=[Depends(viewer)])
    async def device(device_id: str) -> dict[str, Any]:
        ticket = collector.pipeline.faults.ticket_for_device(device_id)
        return {
            "device_id": device_id,
            "state": collector.pipeline.states.state_of(device_id).value,
            "ticket": ticket.id if ticket else None,
        }

    @app.post("/tickets/{ticket_id}/ack")
    async def acknowledge(
        ticket_id: str,
        request: AckRequest,
        who: Caller = Depends(operator),  # noqa: B008
    ) -> dict[str, Any]:
        """A user (personal token or session) is recorded, whatever ``by`` says; only the
        service token acknowledges as ``by``."""
        by = request.by if who.user is None else who.name
        try:
            return collector.acknowledge_now(ticket_id, by, request.note)
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/agents/{agent_id}/gaps/close")
    async def close_gap(
        agent_id: str,
        request: GapClose,
        who: Caller = Depends(admin),  # noqa: B008
    ) -> dict[str, Any]:
        """Close an agent's gap that will never fill (admin), with the reason: a ledger row."""
        gap = (request.first, request.last)
        try:
            collector.close_gap(agent_id, request.epoch, gap, request.reason, who.name)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        return {"agent_id": agent_id, "epoch": request.epoch, "closed": list(gap)}

    @app.post("/ledger/heads/{seq}", dependencies=[Depends(operator)])
    async def attest(seq: Annotated[int, Path(ge=0, lt=2**63)]) -> dict[str, Any]:
        """The head of row ``seq`` signed with the collector's key, for an export of a
        snapshot ending there (``evidence export --collector``): 409 if the collector has
        no key, 404 if its ledger has no such row."""
        try:
            head = collector.attest(seq)
        except KeyError as exc:
            raise HTTPException(404, str(exc.args[0])) from None
        except LookupError as exc:
            raise HTTPException(409, str(exc)) from None
        return {"head": json.loads(head.record())}

    @app.post("/inventory/reload")
    async def reload_inventory(
        who: Caller = Depends(admin),  # noqa: B008
    ) -> dict[str, Any]:
        """Read the inventory file again and put it in force (admin): what changed."""
        try:
            return collector.reload_from_settings(who.name)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None

    app.state.hub = None  # the console's live updates, when it is served
    app.state.closing = []  # what to end when serving ends (the console's child jobs)
    if console is not None:
        from collector.web.console.app import add_console

        app.state.hub = add_console(app, collector, console, access)
    # Outermost: it sees the session middleware's cookie.
    app.add_middleware(
        SecurityHeaders, always_secure_cookies=bool(console and console.secure_cookie)
    )
    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the collector's loop: the collector owns SIGTERM and SIGINT.

    uvicorn's own handlers would replace the collector's while serving, so a SIGTERM
    stopped only the API and left ingest running (seen in the kill -9 test under load).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, bind: str, trusted_proxies: list[str]) -> None:
    """Serve ``app`` on ``bind``; X-Forwarded-For/-Proto are believed from the trusted
    proxies only (the client's address, https)."""
    host, port = bind.rsplit(":", 1)
    config = uvicorn.Config(
        app,
        host=host,
        port=int(port),
        log_level="warning",
        lifespan="off",
        proxy_headers=True,
        forwarded_allow_ips=",".join(trusted_proxies),
        # A browser's live stream never ends by itself: stopping waits for it no longer.
        timeout_graceful_shutdown=3,
    )
    server = _EmbeddedServer(config)
    try:
        await server.serve()
    finally:
        if app.state.hub is not None:
            app.state.hub.close()  # open live streams end cleanly, not cancelled
        if server.started:  # cancelled while serving: close the listener and connections
            await asyncio.shield(server.shutdown())
        for close in app.state.closing:
            await asyncio.shield(close())
