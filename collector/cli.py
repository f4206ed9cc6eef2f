"""``slawatch-collector``: the central collector's command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import gc
import getpass
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from collector.evidence.heads import HeadMismatchError, check_heads, read_heads_file, stored_heads
from collector.ledger.backend import (
    BackendError,
    LedgerUnreachableError,
    Postgres,
    Target,
    exists,
    from_settings,
    target,
)
from collector.ledger.chain import Ledger, LedgerCorruptError
from collector.ledger.lease import STANDBY_POLL_S, Lease, LeaseLostError, holder_name
from collector.ledger.lease import keep as keep_lease
from collector.ledger.projection import ProjectionMismatchError
from collector.ledger.transfer import CopyError, copy_ledger
from collector.onboarding.broker_acl import broker_acl
from collector.pipeline.replay import ReplayInputError, observations_from, read_acks, replay
from collector.sla.measure import measured
from collector.sla.period import PeriodError, parse_period
from collector.sla.render import FORMATS, write_table, write_tickets_csv
from collector.sla.report import GROUPINGS, GroupingError, parse_grouping
from collector.sla.worker import serve
from slawatch import heap
from slawatch.columns import fit
from slawatch.config.check import (
    EXIT_INVALID,
    EXIT_OK,
    check_files,
    located,
    secret_problems,
)
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from slawatch.config.secrets import SecretError
from slawatch.config.settings import CollectorSettings, LedgerDatabase
from slawatch.keys import KeyFileError, key_id, load_public, new_pair
from slawatch.messages import Language, reason_text, text

# The serving parts (collector.service: FastAPI, aiomqtt, influxdb-client; httpx;
# openpyxl) are imported by the commands that use them: together they take ~1.5 s to
# import, which the sla, replay and ledger commands would otherwise pay on every run.
if TYPE_CHECKING:
    from collector.service import Collector

STOP_WITHIN_S = 10.0
EXIT_CORRUPT = 3
EXIT_UNREACHABLE = 4
EXIT_FENCED = 5  # another collector took the ledger's lease over
log = logging.getLogger(__name__)


LEDGER_HELP = (
    "a SQLite file, or a PostgreSQL DSN (postgresql://user@host/db) without a password: "
    "that comes from $SLAWATCH_LEDGER_PASSWORD_FILE, libpq's PGPASSFILE or $PGPASSWORD"
)


def _ledger(text: str) -> Target:
    try:
        return target(text)
    except BackendError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-collector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config",
        help="validate collector settings, inventories and policies (no network)",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument("--lang", choices=("zh", "en"), default="zh", help="of the messages")

    inventory = commands.add_parser("inventory", help="inventory tools")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", required=True)
    importer = inventory_commands.add_parser(
        "import", help="turn a device ledger (设备台账, CSV or XLSX) into an inventory"
    )
    importer.add_argument("ledger", type=Path, metavar="FILE")
    importer.add_argument("--map", type=Path, required=True, help="column map (YAML)")
    importer.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="the inventory to write; when it exists, the import shows what would change",
    )
    importer.add_argument(
        "--apply", action="store_true", help="write the changes to an existing inventory"
    )
    importer.add_argument("--lang", choices=("zh", "en"), default="zh")

    again = commands.add_parser(
        "replay", help="run recorded observations (JSONL) through the pipeline into a ledger"
    )
    again.add_argument("--inventory", type=Path, required=True)
    again.add_argument(
        "--policy",
        type=Path,
        action="append",
        required=True,
        help="the site's policy file first, then the contracts' (files or directories)",
    )
    again.add_argument("--observations", type=Path, required=True, help="JSONL of statuses")
    again.add_argument("--acks", type=Path, help="JSONL of acknowledgements")
    again.add_argument("--ledger", type=Path, required=True, help="SQLite ledger to write")

    run = commands.add_parser("run", help="consume MQTT, keep the ledger, alert, serve the API")
    run.add_argument("-c", "--config", type=Path, required=True, help="collector settings")
    run.add_argument("-v", "--verbose", action="store_true")

    faults = commands.add_parser("faults", help="fault tickets of a running collector (its API)")
    faults_commands = faults.add_subparsers(dest="faults_command", required=True)
    listing = faults_commands.add_parser("list", help="open tickets")
    listing.add_argument("-c", "--config", type=Path, required=True, help="collector settings")
    listing.add_argument("--lang", choices=("zh", "en"), default="zh")
    ack = faults_commands.add_parser(
        "ack", help="acknowledge a ticket (starts no clock, stops one)"
    )
    ack.add_argument("ticket_id", metavar="ID")
    ack.add_argument("--by", required=True, help="who takes it: a name for the record")
    ack.add_argument("-c", "--config", type=Path, required=True, help="collector settings")
    ack.add_argument("--lang", choices=("zh", "en"), default="zh")

    sla = commands.add_parser(
        "sla", help="contract figures, tickets and settlement of a period, from a ledger"
    )
    sla.add_argument("--ledger", type=_ledger, required=True, help=LEDGER_HELP)
    sla.add_argument("--inventory", type=Path, required=True)
    judged_by = sla.add_mutually_exclusive_group(required=True)
    judged_by.add_argument(
        "--policy",
        type=Path,
        action="append",
        help="a policy file or a directory of them (repeatable): each contract is judged "
        "under the policy it names; the first found judges devices of no contract",
    )
    judged_by.add_argument(
        "--impose",
        type=Path,
        metavar="POLICY",
        help="judge every contract under this one policy (the report says so)",
    )
    sla.add_argument(
        "--period",
        required=True,
        help="START/END (dates or ISO date-times, local to the policy), 2026-Q3, 2026-07, "
        "2026 or a day; a period the ledger has not reached the end of is measured up "
        "to its last observation and settled provisionally",
    )
    sla.add_argument(
        "--group-by",
        default="contract",
        help=f"one of {', '.join(GROUPINGS)}, or several joined by commas (contract,station)",
    )
    sla.add_argument("--format", choices=sorted(FORMATS), default="json")
    sla.add_argument("--lang", choices=("zh", "en"), default="zh", help="of the table")
    sla.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    sla.add_argument("--tickets", type=Path, help="also write the period's tickets here (CSV)")
    sla.add_argument(
        "--trend",
        action="store_true",
        help='JSON: add each group\'s online rate per local day ("trend")',
    )
    sla.add_argument(
        "--with-pending",
        action="store_true",
        help="also apply the exemptions the bureau has not decided yet (what if)",
    )

    worker = commands.add_parser(
        "sla-worker",
        help="the console's figures: one period per request line on standard input, kept "
        "loaded between them (collector/sla/worker.py says the protocol)",
    )
    worker.add_argument("--ledger", type=_ledger, required=True, help=LEDGER_HELP)
    worker.add_argument("--inventory", type=Path, required=True)
    worker.add_argument("--policy", type=Path, action="append", required=True)

    ledger = commands.add_parser("ledger", help="ledger tools")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="check the ledger's hash chain (and its signed heads, with --pubkey)"
    )
    verify.add_argument("path", type=_ledger, metavar="LEDGER", help=LEDGER_HELP)
    verify.add_argument(
        "--pubkey", type=Path, help="the collector's public key: check every signed head"
    )
    verify.add_argument(
        "--heads",
        type=Path,
        action="append",
        default=[],
        help="a heads file received or fetched from the collector (repeatable); its heads "
        "are checked with the ledger's own",
    )
    move = ledger_commands.add_parser(
        "copy",
        help="copy a ledger into an empty one (SQLite file or PostgreSQL DSN, either way) "
        "and verify the copy's chain",
    )
    move.add_argument("source", type=_ledger, metavar="SRC", help=LEDGER_HELP)
    move.add_argument("destination", type=_ledger, metavar="DST", help=LEDGER_HELP)

    acl = commands.add_parser(
        "broker-acl",
        help="print mosquitto's ACL for the inventory's agents (each its own site's topics); "
        "districts sharing one broker: an inventory each (each collector its own account)",
    )
    acl.add_argument("inventory", type=Path, metavar="INVENTORY", nargs="+")
    keys = commands.add_parser("keys", help="signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_commands.add_parser(
        "new", help="write a new Ed25519 key (mode 0600) and its public half (KEY.pub)"
    )
    new_key.add_argument("path", type=Path, metavar="KEY")
    new_key.add_argument("--lang", choices=("zh", "en"), default="zh", help="of the messages")

    people = commands.add_parser("users", help="the console's users file")
    people_commands = people.add_subparsers(dest="users_command", required=True)
    add = people_commands.add_parser(
        "add", help="add or replace a user (password from $SLAWATCH_PASSWORD or asked twice)"
    )
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "operator", "admin", "evaluator"), required=True)
    add.add_argument(
        "--party",
        choices=("bureau", "contractor"),
        help="甲方 (bureau) or 乙方 (contractor) (default: bureau for an evaluator)",
    )
    add.add_argument("--display", help="the name shown and recorded (张工)")
    add.add_argument("--file", type=Path, required=True, help="the users file (created 0600)")
    token = people_commands.add_parser(
        "token", help="a new personal API token for a user (shown once; only its hash is kept)"
    )
    token.add_argument("name")
    token.add_argument("--file", type=Path, required=True)

    evidence = commands.add_parser("evidence", help="the evidence bundle an evaluator checks")
    evidence_commands = evidence.add_subparsers(dest="evidence_command", required=True)
    export = evidence_commands.add_parser(
        "export", help="report (PDF, HTML), workbook, CSV, ledger slice, manifest: one zip"
    )
    export.add_argument("--ledger", type=_ledger, required=True, help=LEDGER_HELP)
    export.add_argument("--inventory", type=Path, required=True)
    export.add_argument(
        "--policy",
        type=Path,
        action="append",
        required=True,
        help="the site's policy file first, then the contracts' (files or directories)",
    )
    export.add_argument("--period", required=True, help="as for the sla command (2026-Q3, …)")
    export.add_argument("--out", type=Path, required=True, help="the bundle (.zip) to write")
    export.add_argument("--lang", choices=("zh", "en"), default="zh")
    export.add_argument("--sign", type=Path, metavar="KEYFILE", help="sign the manifest")
    export.add_argument(
        "--collector",
        metavar="URL",
        help="without --sign: the running collector's API (http://host:port), asked to sign "
        "the slice's last row so that every row of the bundle is covered",
    )
    export.add_argument(
        "--token-file", type=Path, help="with --collector: a file holding an API token"
    )
    check = evidence_commands.add_parser(
        "verify", help="check a bundle: files, ledger chain, signatures, recomputed figures"
    )
    check.add_argument("bundle", type=Path, metavar="BUNDLE")
    check.add_argument("--pubkey", type=Path, help="the collector's public key")
    return parser


def _replay(args: argparse.Namespace) -> int:
    if args.ledger.exists():
        print(f"{args.ledger}: exists; replay writes a new ledger", file=sys.stderr)
        return EXIT_INVALID
    try:
        inventory = load_config(args.inventory, Inventory)
        policies = PolicyBook.load(args.policy)
        policies.check(inventory, args.inventory)
        acks = read_acks(args.acks) if args.acks else []
        ledger = Ledger(args.ledger)
        heap.settle()
        summary = replay(inventory, policies, observations_from(args.observations), acks, ledger)
    except ReplayInputError as exc:
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    ledger.close()
    print(
        f"{summary.observations} observations, {summary.changes} state changes, "
        f"{summary.tickets} tickets, {summary.unmatched_acks} acks matched no ticket; "
        f"{args.ledger}: {summary.ledger_rows} rows, chain verified"
    )
    return EXIT_OK


def _sla(args: argparse.Namespace) -> int:
    # A batch run that builds millions of objects and no cycles worth collecting: the
    # cyclic collector's passes over them cost half the run (measured: 14.6 s → 8.2 s).
    gc.disable()
    if not exists(args.ledger):
        print(f"{args.ledger}: no such ledger", file=sys.stderr)
        return EXIT_INVALID
    policies = (
        PolicyBook.only(load_config(args.impose, Policy))
        if args.impose
        else PolicyBook.load(args.policy)
    )
    try:
        dims = parse_grouping(args.group_by)
        asked = parse_period(args.period, ZoneInfo(policies.default.timezone))
    except GroupingError as exc:
        print(f"slawatch-collector: --group-by {exc}", file=sys.stderr)
        return EXIT_INVALID
    except PeriodError as exc:
        print(f"slawatch-collector: --period {exc}", file=sys.stderr)
        return EXIT_INVALID
    with measured(
        args.ledger,
        policies,
        asked,
        lambda: load_config(args.inventory, Inventory),
        args.inventory,
        args.with_pending,
    ) as measurement:
        built = measurement.report.figures(dims, args.trend)
        write = (
            functools.partial(write_table, language=args.lang)
            if args.format == "table"
            else FORMATS[args.format]
        )
        if args.output is None:
            write(built, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            with args.output.open("wb") as out:
                write(built, out)
        if args.tickets is not None:
            with args.tickets.open("wb") as out:
                write_tickets_csv(built, out)
    return EXIT_OK


def _copy(args: argparse.Namespace) -> int:
    try:
        copied = copy_ledger(args.source, args.destination)
    except (CopyError, LedgerCorruptError) as exc:
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_CORRUPT if isinstance(exc, LedgerCorruptError) else EXIT_INVALID
    print(
        f"{args.destination}: {copied.rows} rows, chain intact, head {copied.head} "
        f"(as {args.source}); with {', '.join(copied.tables) or 'no other tables'}"
    )
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    path: Target = args.path
    if not exists(path):
        print(f"{path}: no such ledger", file=sys.stderr)
        return EXIT_INVALID
    public = load_public(args.pubkey) if args.pubkey else None
    heads = [head for file in args.heads for head in read_heads_file(file)]
    ledger = Ledger(path)
    try:
        rows = ledger.verify()
        ledger.verify_projection()
        if public is not None:
            heads += stored_heads(ledger.connection)

            def row_hash_at(seq: int) -> str:
                found = ledger.connection.execute(
                    "SELECT hash FROM ledger WHERE seq = ?", (seq,)
                ).fetchone()
                return "" if found is None else str(found[0])

            checked = check_heads(heads, public, rows, row_hash_at)
    except (LedgerCorruptError, ProjectionMismatchError, HeadMismatchError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_CORRUPT
    finally:
        ledger.close()
    print(f"{path}: {rows} rows, chain intact, SLA projection matches, head {ledger.head}")
    if public is not None:
        last = checked[-1]
        print(
            f"{len(checked)} signed heads hold (key {key_id(public)}); the last covers rows "
            f"0–{last.seq}, signed {last.signed_at}"
            + (
                f"; rows {last.seq + 1}–{rows - 1} are not signed yet"
                if last.seq + 1 < rows
                else ""
            )
        )
    else:
        print("signed heads not checked: give --pubkey to check them")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from collector.onboarding.inventory_import import describe, import_ledger

    language = args.lang
    result = import_ledger(args.ledger, args.map, args.output, apply=args.apply, language=language)
    if result.encoding is not None:
        print(text("import.read_as", language, file=args.ledger, encoding=result.encoding))
    for line in [*result.notes, *describe(result, language)]:
        print(line)
    print(result.summary)
    if result.written:
        print(text("import.written", language, file=args.output, count=result.devices))
    else:
        counts = {
            "added": len(result.added),
            "removed": len(result.removed),
            "changed": len(result.changed),
        }
        total = sum(counts.values())
        print(text("import.would_change", language, file=args.output, count=total, **counts))
    return EXIT_OK


def _broker_acl(paths: list[Path]) -> int:
    try:
        acl = broker_acl(*(load_config(path, Inventory) for path in paths))
    except (ConfigError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    print(acl, end="")
    return EXIT_OK


def _keys(args: argparse.Namespace) -> int:
    public = new_pair(args.path)
    identity = key_id(load_public(public))
    words = text(
        "keys.written_with_id", args.lang, private=args.path, public=public, identity=identity
    )
    print(words)
    return EXIT_OK


def _users(args: argparse.Namespace) -> int:
    from collector.web.console.users import add_user, new_token

    if args.users_command == "token":
        try:
            print(new_token(args.file, args.name))
        except LookupError as exc:
            print(f"slawatch-collector: {exc}", file=sys.stderr)
            return EXIT_INVALID
        return EXIT_OK
    password = os.environ.get("SLAWATCH_PASSWORD")
    if password is None:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("slawatch-collector: the passwords differ", file=sys.stderr)
            return EXIT_INVALID
    if len(password) < 10:
        print("slawatch-collector: a password has at least 10 characters", file=sys.stderr)
        return EXIT_INVALID
    try:
        add_user(args.file, args.name, args.role, password, args.display, args.party)
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        print(f"slawatch-collector: {args.name}: {problems}", file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.file}: {args.name} ({args.role})")
    return EXIT_OK


def _evidence(args: argparse.Namespace) -> int:
    from collector.evidence.attest import collector_attestation
    from collector.evidence.export import (
        AnchorError,
        ExportRequest,
        LedgerMovedError,
        export,
        snapshot,
    )
    from collector.evidence.verify import BundleError, verify_bundle

    # A batch run, as _sla: millions of objects and no cycles worth collecting (a quarter's
    # export of 126,000 devices: 41.6 → 38.8 s of user CPU).
    gc.disable()
    if args.evidence_command == "verify":
        public = load_public(args.pubkey) if args.pubkey else None
        try:
            verified = verify_bundle(args.bundle, public)
        except BundleError as exc:
            print(f"{args.bundle}: {exc}", file=sys.stderr)
            return EXIT_CORRUPT
        print(
            f"{args.bundle}: intact; ledger rows {verified.first}–{verified.rows - 1} "
            f"to head {verified.head}, "
            f"{verified.signed_heads} signed heads ({verified.anchoring()}), "
            "figures recomputed and equal; "
            f"signature {verified.signature}"
        )
        return EXIT_OK
    if not exists(args.ledger):
        print(f"{args.ledger}: no such ledger", file=sys.stderr)
        return EXIT_INVALID
    if args.collector is not None and args.token_file is None:
        print("slawatch-collector: --collector needs --token-file", file=sys.stderr)
        return EXIT_INVALID
    try:
        attest = (
            None
            if args.collector is None
            else collector_attestation(args.collector, args.token_file.read_text().strip())
        )
    except (ValueError, OSError) as exc:
        print(f"slawatch-collector: --collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    quiet = not sys.stderr.isatty()
    try:
        with tempfile.TemporaryDirectory(prefix="slawatch-snapshot-") as scratch:
            # A PostgreSQL ledger is exported from a file copied in one transaction (its
            # chain verified on arrival): the bundle carries a SQLite slice anyway.
            source = (
                args.ledger
                if isinstance(args.ledger, Path)
                else snapshot(args.ledger, Path(scratch))
            )
            request = ExportRequest(
                source, args.inventory, args.policy, args.period, args.out, args.lang,
                args.sign, ["slawatch-collector", *args.argv], attest,
            )  # fmt: skip
            try:
                manifest = export(request, quiet)
            except LedgerMovedError as exc:
                # A running collector's ledger: export a snapshot of it, taken now.
                print(f"slawatch-collector: {exc}; exporting a snapshot of it", file=sys.stderr)
                copy = snapshot(source, Path(scratch))
                manifest = export(dataclasses.replace(request, ledger=copy), quiet)
    except PeriodError as exc:
        print(f"slawatch-collector: --period {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (AnchorError, HeadMismatchError, OSError) as exc:
        print(f"slawatch-collector: the collector did not sign: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(
        f"{args.out}: {len(manifest['files'])} files, "
        f"ledger rows {manifest['ledger']['first_row']}–{manifest['ledger']['rows'] - 1}"
        + (f", signed with key {manifest['key']}" if manifest["key"] else ", not signed")
    )
    return EXIT_OK


async def _run(collector: Collector) -> bool:
    """Serve until SIGTERM/SIGINT; True when every part stopped within STOP_WITHIN_S."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)

    def reload() -> None:
        """SIGHUP: the inventory file again; a bad one is logged and the old one stays."""
        try:
            collector.reload_from_settings("SIGHUP")
        except (ConfigError, OSError) as exc:
            log.error("inventory not reloaded, the one in force stays: %s", exc)

    loop.add_signal_handler(signal.SIGHUP, reload)
    running = asyncio.create_task(collector.run(), name="collector")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        running.cancel()
        # A part that cannot finish (a client waiting on a peer that never answers) must
        # not keep a stopping collector alive: wait boundedly, then save and go.
        await asyncio.wait({running}, timeout=STOP_WITHIN_S)
    finally:
        stopping.cancel()
        collector.close()
    if not running.done():
        stuck = [t.get_name() for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        log.error("stopping: checkpoint saved; still waiting on %s, leaving anyway", stuck)
        return False
    if not running.cancelled():
        running.result()  # a part that failed on its own: raise its error
    log.warning("stopping: checkpoint saved, spool synced")
    return True


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # The audit trail (logins, lockouts, refusals; docs/security.md) is always written.
    logging.getLogger("slawatch.audit").setLevel(logging.INFO)
    settings = load_config(args.config, CollectorSettings)
    # Every secret read and judged before anything starts, named at its line as
    # check-config names it (a ConfigError: exit 2, never a traceback).
    refused = secret_problems(settings, args.config)
    if refused:
        raise ConfigError(refused)
    try:
        from collector.app import load

        lease = _lease(settings)
        collector = load(settings, lease)
        if lease is not None:
            collector.beside.append(functools.partial(keep_lease, lease))
        heap.settle()
    except LookupError as exc:  # a secret reference that cannot be read
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # The standard loop, not uvloop: aiomqtt on uvloop can stop writing after a
    # reconnect (see agent/publisher.py).
    try:
        with asyncio.Runner() as runner:
            if not runner.run(_run(collector)):
                logging.shutdown()
                os._exit(EXIT_OK)  # the state is saved; the runner's clean-up would wait
    except* LeaseLostError as lost:
        # Another collector is active: nothing more of this one's is written or acked.
        log.error("stopping: %s", lost.exceptions[0])
        logging.shutdown()
        os._exit(EXIT_FENCED)
    return EXIT_OK


def _lease(settings: CollectorSettings) -> Lease | None:
    """Collectors sharing a PostgreSQL ledger: wait as the standby until this one holds
    the lease (docs/deploy.md)."""
    if not isinstance(settings.ledger, LedgerDatabase):
        return None
    where = from_settings(settings.ledger)
    assert isinstance(where, Postgres)
    while True:  # a standby outlives its database's failover, as the active one does
        try:
            lease = Lease(where, holder_name(), settings.ledger.lease.total_seconds())
            break
        except LedgerUnreachableError as exc:
            log.warning("ledger's database unreachable (%s): waiting for it", exc)
            time.sleep(STANDBY_POLL_S)
    if not lease.acquire():
        log.warning("standby: another collector holds the ledger's lease; waiting for it")
        from collector.app import load
        from collector.web.standby import serve_until_active

        view = None if settings.api is None else load(settings, standby=True)
        asyncio.run(serve_until_active(view, lease))
    log.warning("active: this collector holds the ledger's lease (term %s)", lease.term)
    return lease


def _faults(args: argparse.Namespace) -> int:
    import httpx

    language: Language = args.lang
    try:
        settings = load_config(args.config, CollectorSettings)
        if settings.api is None:
            print(text("faults.no_api", language, file=args.config), file=sys.stderr)
            return EXIT_INVALID
        token = settings.api.token_value()
    except SecretError as exc:  # named at its line, in the command's language
        print(ConfigError(located([exc], args.config, language)), file=sys.stderr)
        return EXIT_INVALID
    base = f"http://{settings.api.bind}"
    try:
        if args.faults_command == "list":
            reply = httpx.get(
                f"{base}/tickets", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
        else:
            reply = httpx.post(
                f"{base}/tickets/{args.ticket_id}/ack",
                json={"by": args.by},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
    except httpx.HTTPError as exc:
        said = text("faults.unreachable", language, base=base, error=exc)
        print(f"slawatch-collector: {said}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if reply.status_code != 200:
        print(f"slawatch-collector: {reply.json().get('detail', reply.text)}", file=sys.stderr)
        return EXIT_INVALID
    if args.faults_command == "list":
        _print_tickets(reply.json(), language)
    else:
        ticket = reply.json()
        by, when = ticket["acknowledged_by"], ticket["acknowledged_at"]
        print(text("faults.acked", language, id=ticket["id"], by=by, when=when))
    return EXIT_OK


def _print_tickets(tickets: list[dict[str, Any]], language: Language) -> None:
    """Open tickets as a table in the reader's language (CJK-wide columns line up)."""
    if not tickets:
        print(text("faults.none", language))
        return
    widths = (30, 10, 18, 8, 26, 26)
    keys = ("faults.id", "faults.class", "faults.reason", "faults.devices", "faults.detected",
            "faults.repair_by")  # fmt: skip
    print(
        "".join(fit(text(key, language), width) for key, width in zip(keys, widths, strict=True))
        + text("faults.acknowledged", language)
    )
    for ticket in tickets:
        cells = (
            ticket["id"],
            text(f"class.{ticket['fault_class']}", language),
            reason_text(ticket["reason"], language),
            text("faults.count", language, count=len(ticket["device_ids"])),
            ticket["detected_at"],
            ticket["repair_deadline"],
        )
        print(
            "".join(fit(str(cell), width) for cell, width in zip(cells, widths, strict=True))
            + (ticket["acknowledged_by"] or "-")
        )


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(given)
    args.argv = given  # the export records the command line it was given
    try:
        return _command(args)
    except ConfigError as exc:  # any command's config or input file: every problem, with its line
        print(exc.said_in(getattr(args, "lang", "zh")), file=sys.stderr)
        return EXIT_INVALID
    except KeyFileError as exc:  # a key file given on the line
        print(f"slawatch-collector: {exc.said_in(getattr(args, 'lang', 'zh'))}", file=sys.stderr)
        return EXIT_INVALID
    except HeadMismatchError as exc:  # a heads file given on the line
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except LedgerUnreachableError as exc:
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _command(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return check_files(args.files, {"collector", "inventory", "policy"}, language=args.lang)
    if args.command == "inventory":
        return _import(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "ledger":
        return _copy(args) if args.ledger_command == "copy" else _verify(args)
    if args.command == "broker-acl":
        return _broker_acl(args.inventory)
    if args.command == "keys":
        return _keys(args)
    if args.command == "evidence":
        return _evidence(args)
    if args.command == "users":
        return _users(args)
    if args.command == "run":
        return _serve(args)
    if args.command == "faults":
        return _faults(args)
    if args.command == "sla":
        return _sla(args)
    if args.command == "sla-worker":
        if not exists(args.ledger):  # as the sla command: never figures of an empty ledger
            print(f"{args.ledger}: no such ledger", file=sys.stderr)
            return EXIT_INVALID
        serve(args.ledger, args.inventory, args.policy, sys.stdin.buffer, sys.stdout.buffer)
        return EXIT_OK
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
