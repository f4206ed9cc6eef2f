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
from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field

from collector.faults import UnknownTicketError
from collector.metrics import exposition
from collector.pipeline import ticket_body

if TYPE_CHECKING:
    from collector.service import Collector


class AckRequest(BaseModel):
    by: str = Field(min_length=1, max_length=64)


def create_app(collector: Collector) -> FastAPI:
    app = FastAPI(title="slawatch collector", docs_url=None, redoc_url=None)

    async def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        offered = (authorization or "").removeprefix("Bearer ")
        if not collector.token_matches(offered):
            raise HTTPException(401, "a valid bearer token is needed to change state")

    @app.get("/healthz")
    async def health() -> dict[str, Any]:
        return collector.status()

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(exposition(collector), media_type=CONTENT_TYPE_LATEST)

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

    @app.post("/tickets/{ticket_id}/ack", dependencies=[Depends(authorised)])
    async def acknowledge(ticket_id: str, request: AckRequest) -> dict[str, Any]:
        try:
            return collector.acknowledge_now(ticket_id, request.by)
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None

    return app


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the collector's loop: the collector owns SIGTERM and SIGINT.

    uvicorn's own handlers would replace the collector's while serving, so a SIGTERM
    stopped only the API and left ingest running (seen in the kill -9 test under load).
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(collector: Collector, bind: str) -> None:
    host, port = bind.rsplit(":", 1)
    config = uvicorn.Config(
        create_app(collector), host=host, port=int(port), log_level="warning", lifespan="off"
    )
    server = _EmbeddedServer(config)
    try:
        await server.serve()
    finally:
        if server.started:  # cancelled while serving: close the listener and connections
            await asyncio.shield(server.shutdown())
