"""The collector's HTTP API: read tickets and device states; acknowledge with a token.

Reads are open to whoever can reach ``api.bind`` (127.0.0.1 by default); anything that
changes state needs ``Authorization: Bearer <token>`` (the token comes from
``api.token``, an environment variable or a file). Every handler is ``async``: FastAPI
would run plain functions on a thread pool, and the pipeline and its SQLite connection
belong to the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from collector.pipeline.faults import UnknownTicketError
from collector.pipeline.pipeline import ticket_body
from collector.web.console.users import Role, Users
from collector.web.metrics import exposition
from slawatch.config.errors import ConfigError

if TYPE_CHECKING:
    from collector.service import Collector


class AckRequest(BaseModel):
    by: str = Field(min_length=1, max_length=64)
    note: str | None = Field(default=None, max_length=500)


def create_app(collector: Collector) -> FastAPI:
    # /docs is the console's (Swagger UI served locally, no CDN); /openapi.json is this.
    app = FastAPI(title="slawatch collector", docs_url=None, redoc_url=None)
    users = Users(collector.settings.console.users) if collector.settings.console else None

    def bearer(level: Role) -> Callable[..., Awaitable[str | None]]:
        """A dependency: the caller's bearer token is the service token (acts as given;
        None) or a personal token of a user at ``level`` or above (that user's name)."""

        async def holder(authorization: Annotated[str | None, Header()] = None) -> str | None:
            offered = (authorization or "").removeprefix("Bearer ")
            user = users.by_token(offered) if users is not None and offered else None
            if user is not None:
                if user.level < level:
                    raise HTTPException(403, f"needs the {level.name.lower()} role")
                return user.shown
            if not collector.token_matches(offered):
                raise HTTPException(401, "a valid bearer token is needed to change state")
            return None

        return holder

    authorised, admin = bearer(Role.OPERATOR), bearer(Role.ADMIN)

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return collector.status()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(collector, app.state.hub), media_type=CONTENT_TYPE_LATEST)

    @app.get("/alerts/deliveries")
    async def deliveries() -> list[dict[str, Any]]:
        """The latest delivery attempts, newest first (receiver, outcome, error)."""
        return [asdict(attempt) for attempt in reversed(collector.notifier.attempts)]

    @app.get("/tickets")
    async def tickets(open_only: bool = True) -> list[dict[str, Any]]:
        faults = collector.pipeline.faults
        chosen = faults.open_tickets() if open_only else iter(faults.tickets.values())
        return [ticket_body(ticket) for ticket in chosen if ticket.merged_into is None]

    @app.get("/devices/{device_id}")
    async def device(device_id: str) -> dict[str, Any]:
        ticket = collector.pipeline.faults.ticket_for_device(device_id)
        return {
            "device_id": device_id,
            "state": collector.pipeline.states.state_of(device_id).value,
            "ticket": ticket.id if ticket else None,
        }

    # A local dependency: ``Depends`` as the default, which postponed annotations (this
    # module's) cannot name from inside ``create_app``.
    @app.post("/tickets/{ticket_id}/ack")
    async def acknowledge(
        ticket_id: str,
        request: AckRequest,
        user: str | None = Depends(authorised),
    ) -> dict[str, Any]:
        """With a personal token the user is recorded, whatever ``by`` says."""
        try:
            return collector.acknowledge_now(ticket_id, user or request.by, request.note)
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/inventory/reload")
    async def reload_inventory(user: str | None = Depends(admin)) -> dict[str, Any]:
        """Read the inventory file again and put it in force (admin): what changed."""
        try:
            return collector.reload_from_settings(user or "api")
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None

    app.state.hub = None  # the console's live updates, when it is served
    if collector.settings.console is not None:
        from collector.web.console.app import add_console

        app.state.hub = add_console(app, collector, collector.settings.console)
    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the collector's loop: the collector owns SIGTERM and SIGINT.

    uvicorn's own handlers would replace the collector's while serving, so a SIGTERM
    stopped only the API and left ingest running (seen in the kill -9 test under load).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: FastAPI, bind: str) -> None:
    host, port = bind.rsplit(":", 1)
    config = uvicorn.Config(app, host=host, port=int(port), log_level="warning", lifespan="off")
    server = _EmbeddedServer(config)
    try:
        await server.serve()
    finally:
        if server.started:  # cancelled while serving: close the listener and connections
            await asyncio.shield(server.shutdown())
