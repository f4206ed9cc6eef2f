"""The console's routes, added to the collector's FastAPI app: pages (Jinja2, every one
autoescaped), forms that change state (session + CSRF + same origin, or a bearer token),
the login (throttled, its Argon2 off the event loop, audited), live updates (SSE), the
OpenAPI page.

Handlers are ``async``: the pipeline and its SQLite connection belong to the loop.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import StreamingResponse

from collector.pipeline.exemptions import SERVICE_END_CAUSES, exemptions, window_exemption
from collector.pipeline.faults import Ticket, UnknownTicketError
from collector.sla.period import PeriodError, parse_period
from collector.web.console import duty, exemption_forms, places, views, wall
from collector.web.console.auth import (
    SESSION_FIELD,
    Access,
    Caller,
    audit,
    client_address,
    csrf_token,
)
from collector.web.console.jobs import Jobs, default_period
from collector.web.console.live import LIVE_KINDS, EventHub
from collector.web.console.refusals import Refused, sentence, title
from collector.web.console.throttle import LoginThrottle
from collector.web.console.users import Role
from slawatch.config.errors import ConfigError
from slawatch.config.settings import ConsoleSettings, LedgerDatabase
from slawatch.messages import Language, reason_text, text

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collector.service import Collector

HERE = Path(__file__).parent
# Logins waiting for the hashing thread beyond this are refused at once (429): a flood
# queues no unbounded work.
MAX_PENDING_LOGINS = 16
# The wall shows the worst open faults; the fault list shows them all.
WALL_FAULTS = 20
# The fault list's filters, as query parameters.
FilterQuery = Annotated[str, Query(max_length=64)]
ClassQuery = Annotated[str, Query(alias="class", pattern="^(|front_end|network)$")]
AckQuery = Annotated[str, Query(pattern="^(|yes|no)$")]


# What deploy/nginx/slawatch.conf refuses before the console sees the request.
PROXY_REFUSALS = frozenset({413, 429})


def templates_environment() -> Environment:
    """The one Jinja2 environment of the console: every template it loads is autoescaped,
    whatever its name (Starlette's default escapes only ``.html``, and ours are
    ``.html.j2``)."""
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)


def add_console(
    app: FastAPI, collector: Collector, settings: ConsoleSettings, access: Access
) -> EventHub:
    """Mount the console on ``app``; the hub that streams its live updates."""
    users, sessions = access.users, access.sessions
    assert users is not None
    assert sessions is not None
    throttle = LoginThrottle(
        settings.max_failures_per_user,
        settings.max_failures_per_address,
        settings.lockout_for.total_seconds(),
    )
    # One thread hashes passwords: Argon2 releases the GIL, so ingest on the loop goes on,
    # and a login flood takes one core at most.
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="login")

    async def stop_hashing() -> None:
        hashing.shutdown(wait=False, cancel_futures=True)

    app.state.closing.append(stop_hashing)
    pending_logins = 0
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
        max_age=int(settings.absolute_timeout.total_seconds()),
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(env=templates_environment())
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
    app.state.closing.append(jobs.close)
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

    def reader(request: Request, wall: bool = False) -> Caller | None:
        """Whoever reads a page: a user, or nobody on the wall where the settings open it."""
        found = access.caller(request)
        if found is None and not (wall and settings.open_read):
            raise Refused(401, "refused.login")
        return found

    writes = not collector.standby
    ledger = collector.settings.ledger
    standby_lease = (
        f"{ledger.lease.total_seconds():g}"
        if collector.standby and isinstance(ledger, LedgerDatabase)
        else None
    )

    def page(request: Request, name: str, who: Caller | None, **context: Any) -> HTMLResponse:
        """``context`` may bring ``pending_exemptions`` itself (the page of a fault asks
        nothing of a ledger that may be what failed)."""
        lang = language(request)
        if "pending_exemptions" not in context:
            context["pending_exemptions"] = sum(
                1 for a in exemptions(collector.ledger.connection) if a.status == "pending"
            )
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
                # A standby shows no forms that change the ledger (it refuses them).
                "operator": writes and who is not None and who.level >= Role.OPERATOR,
                "is_admin": who is not None and who.level >= Role.ADMIN,
                "evaluator": writes and who is not None and who.approves,
                "standby_lease": standby_lease,
                **context,
            },
        )

    def back_link(request: Request) -> str:
        """Where "back" goes: the page the reader came from when it is the console's own."""
        referer = request.headers.get("referer", "")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}/"
        return referer if referer.startswith(own) else "/"

    def caller_or_none(request: Request) -> Caller | None:
        try:
            return access.caller(request)
        except HTTPException:
            return None

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        """To a browser, a page in its language saying why; to a script, JSON."""
        wants_page = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_page and request.method == "GET":
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if not wants_page:
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        lang = language(request)
        back = back_link(request)
        shown = page(
            request,
            "refused.html.j2",
            caller_or_none(request),
            heading=title(exc.status_code, lang),
            problems=sentence(exc, lang).splitlines(),
            back=back,
            back_label=text("refused.back" if back != "/" else "refused.home", lang),
        )
        shown.status_code = exc.status_code
        return shown

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        """A fault of the console's own: to a browser, a page in its language with the
        number under which the log holds the trace (the server logs it after this);
        to a script, JSON with that number. Never the exception's text: it may hold
        paths, SQL or a device's reply."""
        incident = secrets.token_hex(4)
        log.error("console error %s on %s %s", incident, request.method, request.url.path)
        if "text/html" not in request.headers.get("accept", ""):
            return JSONResponse({"detail": "internal error", "incident": incident}, 500)
        lang = language(request)
        shown = page(
            request,
            "refused.html.j2",
            caller_or_none(request),
            heading=title(500, lang),
            problems=[text("refused.status.500", lang, incident=incident)],
            back=back_link(request),
            back_label=text("refused.back", lang),
            pending_exemptions=0,
        )
        shown.status_code = 500
        return shown

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """A form refused: to a browser, a page saying in its language which field and
        why; to a script, FastAPI's JSON (English, the field's location)."""
        if "text/html" not in request.headers.get("accept", ""):
            return await request_validation_exception_handler(request, exc)
        lang = language(request)
        problems = [views.form_problem(error, lang) for error in exc.errors()]
        shown = page(
            request,
            "refused.html.j2",
            caller_or_none(request),
            heading=text("form.invalid", lang),
            problems=problems,
            back=back_link(request),
            back_label=text("form.back", lang),
        )
        shown.status_code = 422
        return shown

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(
        request: Request, next: str = "/", failed: bool = False, locked: bool = False
    ) -> HTMLResponse:
        return page(
            request,
            "login.html.j2",
            None,
            next=next if next.startswith("/") else "/",
            failed=failed,
            locked=locked,
        )

    @app.post("/login", include_in_schema=False)
    async def login(
        request: Request,
        name: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=256)],
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        nonlocal pending_logins
        access.check_form(request, csrf)
        address = client_address(request)
        target = next if next.startswith("/") and not next.startswith("//") else "/"
        locked = throttle.locked(name, address)
        if locked is not None:
            audit.warning("login refused, locked out: user=%r address=%s", name, address)
            return RedirectResponse(f"/login?locked=1&next={target}", status_code=303)
        if pending_logins >= MAX_PENDING_LOGINS:
            raise Refused(429, "refused.busy_logins")
        pending_logins += 1
        users.refresh()  # here, on the loop: the hashing thread only reads
        try:
            user = await asyncio.get_running_loop().run_in_executor(
                hashing, users.login, name, password
            )
        finally:
            pending_logins -= 1
        if user is None:
            locked = throttle.failed(name, address)
            audit.warning("login failed: user=%r address=%s", name, address)
            if locked is not None:
                audit.warning("locked out %s after %d failed logins", locked.key, locked.failures)
            return RedirectResponse(f"/login?failed=1&next={target}", status_code=303)
        throttle.succeeded(user.name)
        request.session.clear()
        request.session[SESSION_FIELD] = sessions.start(user, address).id
        csrf_token(request)
        audit.info("login: user=%r role=%s address=%s", user.name, user.role, address)
        return RedirectResponse(target, status_code=303)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        who = access.require(request, Role.VIEWER, csrf)
        session_id = request.session.get(SESSION_FIELD)
        if isinstance(session_id, str):
            sessions.end(session_id)
        request.session.clear()
        audit.info("logout: user=%r address=%s", who.user, client_address(request))
        return RedirectResponse("/login", status_code=303)

    def wall_figures(request: Request) -> dict[str, Any]:
        day = datetime.now(zone).date()
        today = jobs.figures(day.isoformat())
        rates = {}
        if today.result is not None:
            rates = {group["key"]: group["online_rate"] for group in today.result["groups"]}
        return wall.figures(
            index, index.online_now(day), collector.policies, rates, language(request)
        )

    def describer(request: Request, who: Caller | None) -> duty.Describer:
        return duty.Describer(index, language(request), local, who is not None)

    def fault_rows(
        request: Request, who: Caller | None, tickets: list[Ticket]
    ) -> list[duty.FaultRow]:
        describe = describer(request, who)
        found = duty.notes(collector, [t.id for t in tickets if t.acknowledged_at]) if who else {}
        return [describe.row(t, found.get(t.id, "")) for t in tickets]

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def wall_page(request: Request) -> HTMLResponse:
        who = reader(request, wall=True)
        status = collector.status()
        tickets = duty.open_faults(collector, index, duty.Filters())
        return page(
            request,
            "wall.html.j2",
            who,
            figures=wall_figures(request),
            rows=fault_rows(request, who, tickets[:WALL_FAULTS]),
            open_count=len(tickets),
            source=f"/faults.json?limit={WALL_FAULTS}",
            agents=views.agents(collector),
            status=status,
            lost=collector.receipts.batches_lost,
        )

    @app.get("/wall.json", include_in_schema=False)
    async def wall_live(request: Request) -> dict[str, Any]:
        reader(request)
        return wall_figures(request)

    def fault_filters(
        region: str, fault_class: str, acknowledged: str, contract: str
    ) -> duty.Filters:
        return duty.Filters(region, fault_class, acknowledged, contract)

    @app.get("/faults", response_class=HTMLResponse, include_in_schema=False)
    async def faults(
        request: Request,
        region: FilterQuery = "",
        fault_class: ClassQuery = "",
        acknowledged: AckQuery = "",
        contract: FilterQuery = "",
    ) -> HTMLResponse:
        who = reader(request)
        filters = fault_filters(region, fault_class, acknowledged, contract)
        tickets = duty.open_faults(collector, index, filters)
        query = request.url.query
        return page(
            request,
            "faults.html.j2",
            who,
            rows=fault_rows(request, who, tickets),
            open_count=len(tickets),
            filters=filters,
            index=index,
            source=f"/faults.json?{query}",
            export=f"/faults.xlsx?{query}",
        )

    @app.get("/faults.json", include_in_schema=False)
    async def faults_live(
        request: Request,
        region: FilterQuery = "",
        fault_class: ClassQuery = "",
        acknowledged: AckQuery = "",
        contract: FilterQuery = "",
        limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
    ) -> dict[str, Any]:
        """The list as the page shows it, for live.js to patch in place (text only);
        like the stream, for those logged in (the open wall reloads itself)."""
        who = reader(request)
        filters = fault_filters(region, fault_class, acknowledged, contract)
        tickets = duty.open_faults(collector, index, filters)
        rows = fault_rows(request, who, tickets[:limit])
        return {"count": len(tickets), "rows": [row.as_json() for row in rows]}

    @app.get("/faults.xlsx", include_in_schema=False)
    async def faults_export(
        request: Request,
        region: FilterQuery = "",
        fault_class: ClassQuery = "",
        acknowledged: AckQuery = "",
        contract: FilterQuery = "",
    ) -> Response:
        """The current list, as shown, as a workbook."""
        who = reader(request)
        tickets = duty.open_faults(
            collector, index, fault_filters(region, fault_class, acknowledged, contract)
        )
        found = duty.notes(collector, [t.id for t in tickets if t.acknowledged_at])
        book = duty.xlsx(tickets, describer(request, who), found, zone)
        stamp = f"{datetime.now(zone):%Y%m%d-%H%M}"
        return Response(
            book,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="faults-{stamp}.xlsx"'},
        )

    @app.post("/faults/ack", include_in_schema=False)
    async def acknowledge_many(
        request: Request,
        ticket: Annotated[list[str], Form(max_length=1000)] = [],  # noqa: B006  # FastAPI's form list
        note: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """Bulk acknowledgement: every ticket chosen, with one note."""
        who = access.require(request, Role.OPERATOR, csrf)
        if not ticket:
            raise views.form_error("ticket", "duty.bulk_none")
        chosen = list(dict.fromkeys(ticket))
        tickets = collector.pipeline.faults.tickets
        for ticket_id in chosen:  # all or none: each checked before any is acknowledged
            if ticket_id not in tickets or tickets[ticket_id].merged_into is not None:
                raise views.form_error("ticket", "duty.ticket_gone", id=ticket_id)
        for ticket_id in chosen:
            collector.acknowledge_now(ticket_id, who.name, note.strip() or None)
        return RedirectResponse(f"/faults?{request.url.query}", status_code=303)

    @app.get("/handover", response_class=HTMLResponse, include_in_schema=False)
    async def handover(
        request: Request, hours: Annotated[int, Query(ge=1, le=72)] = 12
    ) -> HTMLResponse:
        """The shift's tickets for the handover (交接班): printable."""
        who = reader(request)
        until = datetime.now(zone)
        since = until - timedelta(hours=hours)
        tickets = duty.shift_tickets(collector, since)
        return page(
            request,
            "handover.html.j2",
            who,
            rows=fault_rows(request, who, tickets),
            since=local(since),
            until=local(until),
            hours=hours,
        )

    @app.get("/faults/{ticket_id}", response_class=HTMLResponse, include_in_schema=False)
    async def fault(request: Request, ticket_id: str) -> HTMLResponse:
        who = reader(request)
        ticket = collector.pipeline.faults.tickets.get(ticket_id)
        if ticket is None:
            raise Refused(404, "refused.no_ticket", id=ticket_id)
        history = views.ticket_history(collector, ticket_id)
        (row,) = fault_rows(request, who, [ticket])
        members = [describer(request, who).member(d) for d in ticket.device_ids]
        return page(
            request,
            "fault.html.j2",
            who,
            ticket=ticket,
            row=row,
            members=members,
            history=history,
            index=index,
        )

    @app.post("/faults/{ticket_id}/ack", include_in_schema=False)
    async def acknowledge_form(
        request: Request,
        ticket_id: str,
        note: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = access.require(request, Role.OPERATOR, csrf)
        try:
            collector.acknowledge_now(ticket_id, who.name, note.strip() or None)
        except UnknownTicketError:
            raise Refused(404, "refused.no_ticket", id=ticket_id) from None
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
        """A device, or one that left the inventory (已停用) while the ledger still
        remembers it."""
        who = reader(request)
        device = index.by_id.get(device_id)
        spans = views.timeline(collector, device_id)
        tickets = views.tickets_of(collector, device_id)
        if device is None and not (spans or tickets):
            raise Refused(404, "refused.no_device", id=device_id)
        lang = language(request)
        row = index.row(collector, device) if device else None
        checks = collector.pipeline.states.failing_checks(device_id)
        return page(
            request,
            "device.html.j2",
            who,
            device=device,
            device_id=device_id,
            row=row,
            retired=places.retired(device, datetime.now(zone).date()),
            uplink=places.uplink_of(device, index, collector, lang) if device else None,
            contract=index.contracts.get(index.contract_of.get(device_id) or ""),
            checks=checks if row is None or row.state != "down" else {},
            timeline=spans,
            offset=int((datetime.now(zone).utcoffset() or timedelta()).total_seconds() // 60),
            rows=fault_rows(request, who, tickets),
            index=index,
        )

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    async def device_map(
        request: Request, region: Annotated[str, Query(max_length=64)] = ""
    ) -> HTMLResponse:
        """Devices by their coordinates, coloured by state: plain axes, no tile server
        (police video networks have no internet)."""
        who = reader(request)
        found, missing = places.points(index, collector, region)
        return page(
            request, "map.html.j2", who, points=found, missing=missing, region=region, index=index
        )

    @app.get("/scope.json", include_in_schema=False)
    async def scope_search(
        request: Request, q: Annotated[str, Query(max_length=100)] = ""
    ) -> list[dict[str, str]]:
        """What a maintenance scope entry may name, for the form's search box."""
        reader(request)
        return places.search(index, q, language(request))

    @app.get("/sla", response_class=HTMLResponse, include_in_schema=False)
    async def sla(
        request: Request,
        kind: Annotated[str, Query(pattern="^(day|month|quarter|custom)$")] = "month",
        period: Annotated[str, Query(max_length=64)] = "",
    ) -> HTMLResponse:
        who = reader(request)
        today = datetime.now(zone).date().isoformat()
        chosen = period if kind == "custom" and period else default_period(kind, today)
        try:
            parse_period(chosen, zone)
        except PeriodError:
            bad = text("console.period_bad", language(request), period=chosen)
            return page(request, "sla.html.j2", who, kind=kind, period=chosen, bad=bad)
        figures = jobs.figures(chosen)
        pending = any(a.status == "pending" for a in exemptions(collector.ledger.connection))
        what_if = jobs.figures(chosen, with_pending=True) if pending else None
        return page(
            request,
            "sla.html.j2",
            who,
            kind=kind,
            period=chosen,
            figures=figures,
            what_if=what_if,
        )

    @app.post("/sla/export", include_in_schema=False)
    async def export(
        request: Request,
        period: Annotated[str, Form(max_length=64)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = access.require(request, Role.OPERATOR, csrf)
        if jobs.exports_busy:
            raise Refused(429, "refused.busy_exports")
        job = jobs.export(period, language(request), who.name)
        return RedirectResponse(f"/sla/export/{job.id}", status_code=303)

    @app.get("/sla/export/{job_id}", include_in_schema=False)
    async def export_status(request: Request, job_id: str) -> Response:
        who = reader(request)
        job = jobs.exports.get(job_id)
        if job is None:
            raise Refused(404, "refused.no_export", id=job_id)
        return page(request, "export.html.j2", who, job=job)

    @app.get("/sla/export/{job_id}/bundle.zip", include_in_schema=False)
    async def export_download(request: Request, job_id: str) -> Response:
        access.require(request, Role.OPERATOR, changes=False)
        job = jobs.exports.get(job_id)
        if job is None or job.finished is None or job.error is not None:
            raise Refused(404, "refused.export_not_ready", id=job_id)
        return FileResponse(job.out, media_type="application/zip", filename=job.out.name)

    @app.get("/maintenance", response_class=HTMLResponse, include_in_schema=False)
    async def maintenance(request: Request) -> HTMLResponse:
        """Every exemption: the requests waiting for the bureau first, then by start."""
        who = reader(request)
        now = datetime.now(zone)
        found = sorted(
            exemptions(collector.ledger.connection),
            key=lambda a: (a.status != "pending", a.what, a.start),
        )
        causes: dict[str, str] = {}
        for policy in collector.policies.policies:
            causes = policy.exemption_causes | causes
        return page(
            request,
            "maintenance.html.j2",
            who,
            exemptions=found,
            admin=who is not None and who.level >= Role.ADMIN,
            devices=len(collector.inventory.devices),
            now=now,
            default_start=f"{now:%Y-%m-%dT%H:%M}",
            default_end=f"{now + timedelta(hours=2):%Y-%m-%dT%H:%M}",
            today=now.date().isoformat(),
            ticket_causes=causes,
            service_end_causes=SERVICE_END_CAUSES,
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
        who = access.require(request, Role.OPERATOR, csrf)
        window = views.window_from_form(index, start, end, reason, scope, zone)
        collector.request_exemption(window_exemption("", window, who.name))
        jobs.outdated()
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/maintenance/service-end", include_in_schema=False)
    async def request_service_end(
        request: Request,
        day: Annotated[date, Form()],
        cause: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(min_length=1, max_length=200)],
        scope: Annotated[str, Form(max_length=2000)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """Devices demolished or removed from a day on (back-dated if it must be)."""
        who = access.require(request, Role.OPERATOR, csrf)
        requested = exemption_forms.service_end_from_form(
            index, day, scope, cause, reason, who.name, zone
        )
        collector.request_exemption(requested)
        jobs.outdated()
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/maintenance/ticket", include_in_schema=False)
    async def request_ticket_exclusion(
        request: Request,
        ticket: Annotated[str, Form(min_length=1, max_length=64)],
        cause: Annotated[str, Form(max_length=64)],
        reason: Annotated[str, Form(min_length=1, max_length=200)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """A ticket that is not the contractor's to answer for, with a cause the policy lists."""
        who = access.require(request, Role.OPERATOR, csrf)
        requested = exemption_forms.ticket_from_form(collector, ticket, cause, reason, who.name)
        collector.request_exemption(requested)
        jobs.outdated()
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/maintenance/{window_id}/end", include_in_schema=False)
    async def end_window(
        request: Request, window_id: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        who = access.require(request, Role.OPERATOR, csrf)
        try:
            collector.end_window(window_id, who.name)
            jobs.outdated()
        except KeyError:
            raise Refused(404, "refused.no_window", id=window_id) from None
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/maintenance/{exemption_id}/decide", include_in_schema=False)
    async def decide_exemption(
        request: Request,
        exemption_id: str,
        decision: Annotated[str, Form(pattern="^(approve|reject)$")],
        note: Annotated[str, Form(max_length=500)] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """A bureau evaluator approves or rejects the contractor's request."""
        who = access.require_evaluator(request, csrf)
        try:
            collector.decide_exemption(exemption_id, decision == "approve", who.name, note or None)
            jobs.outdated()
        except KeyError:
            raise Refused(404, "refused.no_exemption", id=exemption_id) from None
        except ValueError:
            raise Refused(409, "refused.decided", id=exemption_id) from None
        audit.info("exemption %s %sd by %r", exemption_id, decision, who.user)
        return RedirectResponse("/maintenance", status_code=303)

    @app.post("/inventory", include_in_schema=False)
    async def reload_form(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        """An admin puts the inventory file in force again (what SIGHUP does)."""
        who = access.require(request, Role.ADMIN, csrf)
        try:
            collector.reload_from_settings(who.name)
        except ConfigError as exc:
            raise Refused(422, "refused.reload", problems=str(exc)) from None
        return RedirectResponse("/maintenance", status_code=303)

    @app.get("/events", include_in_schema=False)
    async def events(request: Request) -> StreamingResponse:
        who = reader(request)
        name = "" if who is None else who.user or who.name
        if not hub.admits(name):
            raise Refused(429, "refused.busy_streams")
        return StreamingResponse(
            hub.stream(name, lambda: access.still_reads(request)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/refused/{status}", include_in_schema=False)
    async def proxy_refusal(status: int) -> Response:
        """The reverse proxy's own refusals (a body over its limit, a login flood) told
        as the console tells its own: deploy/nginx/slawatch.conf's error_page asks here."""
        raise StarletteHTTPException(status if status in PROXY_REFUSALS else 404)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def api_page(request: Request) -> HTMLResponse:
        """Swagger UI, local, started by a script file (the CSP allows no inline one)."""
        reader(request)
        return templates.TemplateResponse(request, "docs.html.j2", {})

    @app.get("/security", response_class=HTMLResponse, include_in_schema=False)
    async def security(request: Request) -> HTMLResponse:
        """Lockouts an admin may lift, and how many sessions are open."""
        who = access.require(request, Role.ADMIN, changes=False)
        return page(
            request,
            "security.html.j2",
            who,
            lockouts=throttle.lockouts(),
            sessions=len(sessions),
        )

    @app.post("/security/lift", include_in_schema=False)
    async def lift(
        request: Request,
        key: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        who = access.require(request, Role.ADMIN, csrf)
        if not throttle.lift(key):
            raise Refused(404, "refused.no_lockout", id=key)
        audit.warning("lockout lifted: %s by %r", key, who.user)
        return RedirectResponse("/security", status_code=303)

    @app.post("/security/end-sessions", include_in_schema=False)
    async def end_sessions(
        request: Request,
        name: Annotated[str, Form(max_length=64)],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """End every session of a user now (a stolen laptop, a leaver)."""
        who = access.require(request, Role.ADMIN, csrf)
        ended = sessions.end_user(name)
        audit.warning("sessions of %r ended by %r: %d", name, who.user, ended)
        return RedirectResponse("/security", status_code=303)

    return hub
