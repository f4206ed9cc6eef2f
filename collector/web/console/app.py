"""The console's routes, added to the collector's FastAPI app: pages (Jinja2), forms that
change state (session + CSRF, or a bearer token), live updates (SSE), the OpenAPI page.

Handlers are ``async``: the pipeline and its SQLite connection belong to the loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import StreamingResponse

from collector.pipeline.faults import UnknownTicketError
from collector.pipeline.maintenance import announced
from collector.web.console import views
from collector.web.console.auth import Caller, caller, csrf_token, require
from collector.web.console.jobs import Jobs, default_period
from collector.web.console.live import LIVE_KINDS, EventHub
from collector.web.console.users import Role, Users
from slawatch.config.errors import ConfigError
from slawatch.config.settings import ConsoleSettings
from slawatch.messages import Language, reason_text, text

if TYPE_CHECKING:
    from collector.service import Collector

HERE = Path(__file__).parent
SWAGGER = "/static/vendor/swagger-ui-5.17.14"


def add_console(app: FastAPI, collector: Collector, settings: ConsoleSettings) -> EventHub:
    """Mount the console on ``app``; the hub that streams its live updates."""
    users = Users(settings.users)
    secret = settings.session_secret.resolve().get_secret_value()
    if len(secret) < 32:
        raise LookupError(
            f"console.session_secret from {settings.session_secret} is shorter than 32 characters"
        )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="slawatch_session",
        same_site="strict",
        https_only=settings.secure_cookie,
        max_age=12 * 3600,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    index = views.DeviceIndex(collector.inventory, collector)
    hub = EventHub()

    def committed(first: int) -> None:
        """Each commit's rows, read once: the device index's states, then the streams."""
        rows = [row for row in collector.ledger.rows_from(first) if row.kind in LIVE_KINDS]
        index.apply(rows)
        hub.publish_rows(rows)

    collector.on_commit.append(committed)
    collector.on_reload.append(lambda: index.build(collector.inventory, collector))
    jobs = Jobs(collector)
    zone = collector.zone

    def language(request: Request) -> Language:
        chosen = request.query_params.get("lang") or request.session.get("lang")
        if chosen in ("zh", "en"):
            request.session["lang"] = chosen
            return chosen  # type: ignore[return-value]
        return settings.language

    def local(moment: datetime | str | None, with_date: bool = True) -> str:
        if moment is None:
            return "—"
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        found = moment.astimezone(zone)
        return f"{found:%Y-%m-%d %H:%M:%S}" if with_date else f"{found:%H:%M:%S}"

    def reader(request: Request) -> Caller | None:
        """Whoever reads a page: a user, or nobody where the settings open reading."""
        found = caller(request, users, collector)
        if found is None and not settings.open_read:
            raise HTTPException(401, "log in to read the console")
        return found

    def page(request: Request, name: str, who: Caller | None, **context: Any) -> HTMLResponse:
        lang = language(request)
        return templates.TemplateResponse(
            request,
            name,
            {
                "t": lambda key, **values: text(key, lang, **values),
                "reason": lambda code: reason_text(code, lang),
                "lang": lang,
                "other_lang": "en" if lang == "zh" else "zh",
                "user": who,
                "csrf": csrf_token(request),
                "local": local,
                "zone": collector.policies.default.timezone,
                "operator": who is not None and who.level >= Role.OPERATOR,
                **context,
            },
        )

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        wants_page = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_page and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/", failed: bool = False) -> HTMLResponse:
        return page(
            request,
            "login.html.j2",
            None,
            next=next if next.startswith("/") else "/",
            failed=failed,
        )

    @app.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        name: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        if csrf != request.session.get("csrf"):
            raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page")
        user = users.login(name, password)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        if user is None:
            return RedirectResponse(f"/login?failed=1&next={target}", status_code=303)
        request.session.clear()
        request.session["user"] = user.name
        csrf_token(request)
        return RedirectResponse(target, status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        require(caller(request, users, collector), Role.VIEWER, request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def wall(request: Request) -> HTMLResponse:
        who = reader(request)
        live = index.online_now(datetime.now(zone).date())
        today = jobs.figures(datetime.now(zone).date().isoformat())
        contracts = [
            {
                "key": key,
                "name": index.contracts[key].name
                if key in index.contracts
                else text("report.no_contract", language(request)),
                "now": views.share(counts),
                "counts": counts,
            }
            for key, counts in sorted(live["contracts"].items())
        ]
        targets = {}
        rates = {}
        if today.result is not None:
            for group in today.result["groups"]:
                rates[group["key"]] = group["online_rate"]
                verdict = group["targets"].get("online_rate")
                if verdict:
                    targets[group["key"]] = verdict["target"]
        regions = [
            {
                "id": key,
                "name": index.region_name(key),
                "now": views.share(counts),
                "counts": counts,
            }
            for key, counts in sorted(live["regions"].items())
        ]
        status = collector.status()
        return page(
            request,
            "wall.html.j2",
            who,
            contracts=contracts,
            rates=rates,
            targets=targets,
            regions=regions,
            faults=views.open_faults(collector)[:20],
            index=index,
            agents=views.agents(collector),
            status=status,
            lost=collector.receipts.batches_lost,
        )

    @app.get("/faults", response_class=HTMLResponse, include_in_schema=False)
    async def faults(request: Request) -> HTMLResponse:
        who = reader(request)
        return page(
            request, "faults.html.j2", who, faults=views.open_faults(collector), index=index
        )

    @app.get("/faults/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
    async def fault(request: Request, ticket_id: str) -> HTMLResponse:
        who = reader(request)
        ticket = collector.pipeline.faults.tickets.get(ticket_id)
        if ticket is None:
            raise HTTPException(404, f"no ticket {ticket_id!r}")
        history = views.ticket_history(collector, ticket_id)
        return page(request, "fault.html.j2", who, ticket=ticket, history=history, index=index)

    @app.post("/faults/{ticket_id}/ack", include_in_schema=False)
    async def acknowledge_form(
        request: Request,
        ticket_id: str,
        note: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = require(caller(request, users, collector), Role.OPERATOR, request, csrf)
        try:
            collector.acknowledge_now(ticket_id, who.name, note.strip() or None)
        except UnknownTicketError as exc:
            raise HTTPException(404, str(exc)) from None
        return RedirectResponse(f"/faults/{ticket_id}", status_code=303)

    @app.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
    async def fleet(
        request: Request,
        q: Annotated[str, Query(max_length=100)] = "",
        state: Annotated[str, Query(pattern="^(|up|degraded|down|unknown)$")] = "",
        kind: Annotated[str, Query(pattern="^(|camera|door_host|checkpoint|switch)$")] = "",
        region: Annotated[str, Query(max_length=64)] = "",
        contract: Annotated[str, Query(max_length=64)] = "",
        reason: Annotated[str, Query(max_length=64)] = "",
        page_number: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    ) -> HTMLResponse:
        who = reader(request)
        rows, total = index.query(
            collector, text=q, state=state, kind=kind, region=region, contract=contract,
            reason=reason, page=page_number,
        )  # fmt: skip
        filters = {
            "q": q,
            "state": state,
            "kind": kind,
            "region": region,
            "contract": contract,
            "reason": reason,
        }
        return page(
            request,
            "fleet.html.j2",
            who,
            rows=rows,
            total=total,
            page_number=page_number,
            pages=views.pages(total),
            filters=filters,
            index=index,
            states=views.ALL_STATES,
        )

    @app.get("/fleet/{device_id}", response_class=HTMLResponse, include_in_schema=False)
    async def device_page(request: Request, device_id: str) -> HTMLResponse:
        who = reader(request)
        device = index.by_id.get(device_id)
        if device is None:
            raise HTTPException(404, f"no device {device_id!r} in the inventory")
        return page(
            request,
            "device.html.j2",
            who,
            device=device,
            row=index.row(collector, device),
            checks=collector.pipeline.states.failing_checks(device_id),
            timeline=views.timeline(collector, device_id),
            tickets=views.tickets_of(collector, device_id),
            index=index,
        )

    @app.get("/sla", response_class=HTMLResponse, include_in_schema=False)
    async def sla(
        request: Request,
        kind: Annotated[str, Query(pattern="^(day|month|quarter|custom)$")] = "month",
        period: Annotated[str, Query(max_length=64)] = "",
    ) -> HTMLResponse:
        who = reader(request)
        today = datetime.now(zone).date().isoformat()
        chosen = period if kind == "custom" and period else default_period(kind, today)
        figures = jobs.figures(chosen)
        return page(request, "sla.html.j2", who, kind=kind, period=chosen, figures=figures)

    @app.post("/sla/export", include_in_schema=False)
    async def export(
        request: Request,
        period: Annotated[str, Form(max_length=64)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = require(caller(request, users, collector), Role.OPERATOR, request, csrf)
        job = jobs.export(period, language(request), who.name)
        return RedirectResponse(f"/sla/export/{job.id}", status_code=303)

    @app.get("/sla/export/{job_id}", include_in_schema=False)
    async def export_status(request: Request, job_id: str) -> Response:
        who = reader(request)
        job = jobs.exports.get(job_id)
        if job is None:
            raise HTTPException(404, f"no export {job_id!r}")
        return page(request, "export.html.j2", who, job=job)

    @app.get("/sla/export/{job_id}/bundle.zip", include_in_schema=False)
    async def export_download(request: Request, job_id: str) -> Response:
        require(caller(request, users, collector), Role.OPERATOR, request, None, changes=False)
        job = jobs.exports.get(job_id)
        if job is None or job.finished is None or job.error is not None:
            raise HTTPException(404, f"export {job_id!r} is not ready")
        return FileResponse(job.out, media_type="application/zip", filename=job.out.name)

    @app.get("/maintenance", response_class=HTMLResponse, include_in_schema=False)
    async def maintenance(request: Request) -> HTMLResponse:
        who = reader(request)
        now = datetime.now(zone)
        windows = sorted(announced(collector.ledger.connection), key=lambda a: a.window.start)
        return page(
            request,
            "maintenance.html.j2",
            who,
            windows=windows,
            admin=who is not None and who.level >= Role.ADMIN,
            devices=len(collector.inventory.devices),
            now=now,
            default_start=f"{now:%Y-%m-%dT%H:%M}",
            default_end=f"{now + timedelta(hours=2):%Y-%m-%dT%H:%M}",
        )

    @app.get("/deliveries", response_class=HTMLResponse, include_in_schema=False)
    async def deliveries(request: Request) -> HTMLResponse:
        """Alert channels failing, and by receiver the alerts not delivered (and who got
        them all the same)."""
        return page(request, "deliveries.html.j2", reader(request), **collector.deliveries())

    @app.post("/maintenance", include_in_schema=False)
    async def announce(
        request: Request,
        start: Annotated[datetime, Form()],
        end: Annotated[datetime, Form()],
        reason: Annotated[str, Form(min_length=1, max_length=200)],
        scope: Annotated[str, Form(max_length=2000)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = require(caller(request, users, collector), Role.OPERATOR, request, csrf)
        window = views.window_from_form(index, start, end, reason, scope, zone)
        collector.announce_window(window, who.name)
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/maintenance/{window_id}/end", include_in_schema=False)
    async def end_window(
        request: Request, window_id: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        who = require(caller(request, users, collector), Role.OPERATOR, request, csrf)
        try:
            collector.end_window(window_id, who.name)
        except KeyError:
            raise HTTPException(404, f"no maintenance window {window_id!r}") from None
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/inventory", include_in_schema=False)
    async def reload_form(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        """An admin puts the inventory file in force again (what SIGHUP does)."""
        who = require(caller(request, users, collector), Role.ADMIN, request, csrf)
        try:
            collector.reload_from_settings(who.name)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        return RedirectResponse("/maintenance", status_code=303)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        reader(request)
        return StreamingResponse(
            hub.stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @app.get("/docs", include_in_schema=False)
    async def api_page() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="slawatch collector API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    return hub
