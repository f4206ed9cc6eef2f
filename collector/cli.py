"""``slawatch-collector``: the central collector's command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from collector.ledger import Ledger, LedgerCorruptError
from collector.projection import ProjectionMismatchError, observed_through, reading
from collector.replay import ReplayInputError, observations_from, read_acks, replay
from collector.sla.exposure import ledger_states
from collector.sla.period import PeriodError, from_epoch_ms, parse_period
from collector.sla.render import FORMATS, write_tickets_csv
from collector.sla.report import GROUPINGS, GroupingError, Report, parse_grouping
from collector.sla.tickets import period_tickets
from slawatch import heap
from slawatch.config.check import EXIT_INVALID, EXIT_OK, check_files
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from slawatch.config.settings import CollectorSettings

# The serving parts (collector.service: FastAPI, aiomqtt, influxdb-client; httpx;
# openpyxl) are imported by the commands that use them: together they take ~1.5 s to
# import, which the sla, replay and ledger commands would otherwise pay on every run.
if TYPE_CHECKING:
    from collector.service import Collector

STOP_WITHIN_S = 10.0
EXIT_CORRUPT = 3
EXIT_UNREACHABLE = 4
log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-collector", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config",
        help="validate collector settings, inventories and policies (no network)",
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")

    inventory = commands.add_parser("inventory", help="inventory tools")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", required=True)
    importer = inventory_commands.add_parser(
        "import", help="turn a device ledger (设备台账, CSV or XLSX) into an inventory"
    )
    importer.add_argument("ledger", type=Path, metavar="FILE")
    importer.add_argument("--map", type=Path, required=True, help="column map (YAML)")
    importer.add_argument("-o", "--output", type=Path, required=True)

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
    ack = faults_commands.add_parser(
        "ack", help="acknowledge a ticket (starts no clock, stops one)"
    )
    ack.add_argument("ticket_id", metavar="ID")
    ack.add_argument("--by", required=True, help="who takes it: a name for the record")
    ack.add_argument("-c", "--config", type=Path, required=True, help="collector settings")

    sla = commands.add_parser(
        "sla", help="contract figures, tickets and settlement of a period, from a ledger"
    )
    sla.add_argument("--ledger", type=Path, required=True)
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
    sla.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    sla.add_argument("--tickets", type=Path, help="also write the period's tickets here (CSV)")

    ledger = commands.add_parser("ledger", help="ledger tools")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser("verify", help="check the ledger's hash chain")
    verify.add_argument("path", type=Path, metavar="LEDGER")
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
    if not args.ledger.exists():
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
    Ledger(args.ledger).close()  # first: opening brings the projection up to date
    with reading(args.ledger) as db:
        watermark = observed_through(db)
    period = asked.observed_to(None if watermark is None else from_epoch_ms(watermark))
    # The ledger's states and tickets are read by two more processes while this one loads
    # the inventory: the two cores share three jobs, and none waits for another to start.
    # Forked, not spawned: the pool forks both at the first submit, before it starts any
    # thread, and they inherit the imports instead of repeating them (0.5 s each).
    with (
        tempfile.TemporaryDirectory(prefix="slawatch-sla-") as scratch,
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool,
    ):
        states = pool.submit(ledger_states, args.ledger)
        tickets = pool.submit(
            period_tickets, args.ledger, period.start_ms, period.end_ms, Path(scratch) / "tickets"
        )
        inventory = load_config(args.inventory, Inventory)
        policies.check(inventory, args.inventory)
        report = Report(inventory, policies, period, states.result, tickets.result)
        built = report.build(dims)
        write = FORMATS[args.format]
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


def _verify(path: Path) -> int:
    if not path.exists():
        print(f"{path}: no such ledger", file=sys.stderr)
        return EXIT_INVALID
    ledger = Ledger(path)
    try:
        rows = ledger.verify()
        ledger.verify_projection()
    except (LedgerCorruptError, ProjectionMismatchError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_CORRUPT
    finally:
        ledger.close()
    print(f"{path}: {rows} rows, chain intact, SLA projection matches, head {ledger.head}")
    return EXIT_OK


async def _run(collector: Collector) -> bool:
    """Serve until SIGTERM/SIGINT; True when every part stopped within STOP_WITHIN_S."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
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
    try:
        settings = load_config(args.config, CollectorSettings)
        inventory = load_config(settings.inventory, Inventory)
        policies = PolicyBook.load([settings.policy, *settings.contract_policies])
        policies.check(inventory, settings.inventory)
        from collector.service import Collector

        collector = Collector(settings, inventory, policies)
        heap.settle()
    except LookupError as exc:  # a secret reference that cannot be read
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # The standard loop, not uvloop: aiomqtt on uvloop can stop writing after a
    # reconnect (see agent/publisher.py).
    with asyncio.Runner() as runner:
        if not runner.run(_run(collector)):
            logging.shutdown()
            os._exit(EXIT_OK)  # the state is saved; the runner's clean-up would wait on the part
    return EXIT_OK


def _faults(args: argparse.Namespace) -> int:
    import httpx

    try:
        settings = load_config(args.config, CollectorSettings)
        if settings.api is None:
            print(f"{args.config}: no api section: the collector serves no API", file=sys.stderr)
            return EXIT_INVALID
        token = settings.api.token_value()
    except LookupError as exc:
        print(f"slawatch-collector: {exc}", file=sys.stderr)
        return EXIT_INVALID
    base = f"http://{settings.api.bind}"
    try:
        if args.faults_command == "list":
            reply = httpx.get(f"{base}/tickets", timeout=10)
        else:
            reply = httpx.post(
                f"{base}/tickets/{args.ticket_id}/ack",
                json={"by": args.by},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
    except httpx.HTTPError as exc:
        print(f"slawatch-collector: cannot reach the collector at {base}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if reply.status_code != 200:
        print(f"slawatch-collector: {reply.json().get('detail', reply.text)}", file=sys.stderr)
        return EXIT_INVALID
    if args.faults_command == "list":
        for ticket in reply.json():
            acknowledged = ticket["acknowledged_by"] or "-"
            print(
                f"{ticket['id']}\t{ticket['fault_class']}\t{ticket['reason']}\t"
                f"{len(ticket['device_ids'])} devices\tdetected {ticket['detected_at']}\t"
                f"repair by {ticket['repair_deadline']}\tack {acknowledged}"
            )
    else:
        ticket = reply.json()
        by, when = ticket["acknowledged_by"], ticket["acknowledged_at"]
        print(f"{ticket['id']}: acknowledged by {by} at {when}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _command(args)
    except ConfigError as exc:  # any command's config or input file: every problem, with its line
        print(exc, file=sys.stderr)
        return EXIT_INVALID


def _command(args: argparse.Namespace) -> int:
    if args.command == "check-config":
        return check_files(args.files, {"collector", "inventory", "policy"})
    if args.command == "inventory":
        from collector.inventory_import import import_ledger

        count = import_ledger(args.ledger, args.map, args.output)
        print(f"{args.output}: {count} devices written")
        return EXIT_OK
    if args.command == "replay":
        return _replay(args)
    if args.command == "ledger":
        return _verify(args.path)
    if args.command == "run":
        return _serve(args)
    if args.command == "faults":
        return _faults(args)
    if args.command == "sla":
        return _sla(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
