"""What a standby collector serves while another holds the ledger's lease: ``/healthz``
(503, ``role: standby``: a load balancer sends people to the active one) and ``/metrics``
(``slawatch_collector_active 0``), behind the API token unless the settings open them.
It stops serving the moment this collector holds the lease, and the collector's own
API takes the address over."""

from __future__ import annotations

import asyncio
import hmac
import html
from collections.abc import Iterator

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector as MetricSource
from prometheus_client.registry import CollectorRegistry

from collector.ledger.lease import STANDBY_POLL_S, Lease
from collector.web.api import serve
from collector.web.metrics import active_metric
from slawatch.config.settings import ApiSettings
from slawatch.messages import Language, text


class _Standby(MetricSource):
    def collect(self) -> Iterator[Metric]:
        yield active_metric(False, None)


def standby_app(api: ApiSettings, lease: Lease) -> FastAPI:
    token = api.token_value()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Standby())
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.hub, app.state.closing = None, []

    def allowed(request: Request, opened: bool) -> bool:
        offered = request.headers.get("authorization", "").removeprefix("Bearer ")
        return opened or hmac.compare_digest(offered.encode(), token.encode())

    @app.get("/healthz")
    async def health(request: Request) -> Response:
        if not allowed(request, api.open_health):
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        status = {"role": "standby", "holder": lease.holder, "lease_s": lease.ttl_ms / 1000}
        return JSONResponse(status, status_code=503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        if not allowed(request, api.open_metrics):
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/{path:path}", include_in_schema=False)
    async def page(request: Request, path: str) -> Response:
        """Any console page: this is the standby, in the catalogue's words (zh default)."""
        language: Language = "en" if request.query_params.get("lang") == "en" else "zh"
        title = html.escape(text("standby.title", language))
        body = html.escape(text("standby.body", language, lease=f"{lease.ttl_ms / 1000:g}"))
        return HTMLResponse(
            f'<!doctype html><html lang="{language}"><meta charset="utf-8"><title>{title}'
            f"</title><body><h1>{title}</h1><p>{body}</p></body></html>",
            status_code=503,
        )

    return app


async def serve_until_active(api: ApiSettings | None, lease: Lease) -> None:
    """Wait for the lease (polling it off the event loop), serving the standby's routes."""
    serving = (
        None
        if api is None
        else asyncio.create_task(serve(standby_app(api, lease), api.bind, api.trusted_proxies))
    )
    try:
        # Polled: the lease lapses in the server's table, nothing here could set an Event.
        while True:
            if await asyncio.to_thread(lease.acquire):
                return
            await asyncio.sleep(STANDBY_POLL_S)
    finally:
        if serving is not None:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
