"""The live collector: MQTT messages → pipeline → ledger, spool → InfluxDB, alerts → sinks.

``take`` is the whole ingest step and runs synchronously between two awaits: decode,
de-duplicate by (agent, seq), feed the pipeline, spool the time-series lines, journal
the input and commit, in that order, before the messages are acknowledged. Points are
spooled (and synced) before the commit, so a crash between the two at worst spools a
redelivered batch's points twice (InfluxDB overwrites an identical point), never zero
times.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import aiomqtt
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator

from agent.wire import (
    AgentLoad,
    Alive,
    Batch,
    ClockState,
    Status,
    WireError,
    ack_topic,
    content_digest,
    decode_alive,
    decode_batch,
    encode_ack,
    encode_batch,
    format_timestamp,
    parse_topic,
    sign,
    signed_by,
)
from collector.alerting.channels import ChannelSender
from collector.alerting.notify import MqttAlerts, Notifier, Undelivered
from collector.alerting.routing import (
    CLOCK_OFF,
    CLOCK_OK,
    STORE_FAILING,
    STORE_RECOVERED,
    Router,
)
from collector.alerting.text import AlertWriter
from collector.evidence.heads import HeadSigner, SignedHead
from collector.ingest.clocks import EdgeClocks, Reading
from collector.ingest.consumer import (
    COMMAND_TOPIC,
    DeadLetter,
    Ingest,
    Taken,
    client_id_for,
)
from collector.ingest.dead_letters import DeadLetters, pem_lines
from collector.ingest.embedded_broker import embedded_broker
from collector.ingest.receipts import Receipts, Verdict
from collector.ledger.backend import Connection, from_settings
from collector.ledger.chain import Ledger
from collector.ledger.lease import Lease, LeaseLostError
from collector.ledger.store import (
    STORE_ERRORS,
    StoreHealth,
    StoreUnavailableError,
    unavailable,
)
from collector.pipeline.checkpoint import Checkpoint
from collector.pipeline.exemptions import KIND as EXEMPTION
from collector.pipeline.exemptions import Decision, Exemption, exemptions, inventory_change
from collector.pipeline.faults import Ticket, UnknownTicketError
from collector.pipeline.pipeline import Pipeline, ticket_body
from collector.timeseries.influx import InfluxWriter
from collector.timeseries.spool import Spool
from slawatch.aio import raise_if_cancelled
from slawatch.config.alerting import Alerting
from slawatch.config.diff import device_changes
from slawatch.config.inventory import Inventory, unsigned_agents
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.secrets import collector_secrets, credential_secrets, values
from slawatch.config.settings import CollectorSettings, SigningSettings
from slawatch.keys import load_private, public_from_text
from slawatch.mqtt import head_topic_for, mqtt_client

log = logging.getLogger(__name__)
INVENTORY = "inventory"  # the ledger row of an inventory put in force


MAX_REASONS = 64
# A status observed after its batch was sent is refused; this much is a clock's jitter
# (a small step of NTP between the two readings), not a status from the future.
SENT_SLACK = timedelta(seconds=1)


def payload_of_refused(batch: Batch, taken: list[Status]) -> bytes:
    """The dead letter of a partly refused batch: the batch with only what was refused."""
    kept = {id(status) for status in taken}
    refused = [status for status in batch.statuses if id(status) not in kept]
    return encode_batch(batch.model_copy(update={"statuses": refused}))


def secrets_of(settings: CollectorSettings) -> list[str]:
    """The value of every secret the settings reference (those that can be read: the
    others stop the start-up) and the signing key's."""
    found = values(collector_secrets(settings))
    if settings.signing is not None:
        found += pem_lines(settings.signing.key)
    return found


class AckCommand(BaseModel):
    """``slawatch/v1/commands/ack``: acknowledge a ticket (or the one open on a device)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: str
    token: str
    ticket_id: str | None = None
    device_id: str | None = None
    at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_target(self) -> AckCommand:
        if (self.ticket_id is None) == (self.device_id is None):
            raise ValueError("give exactly one of ticket_id and device_id")
        return self


@dataclass
class Counters:
    batches: int = 0
    statuses: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    clock_refused: int = 0
    acknowledgements: int = 0
    agents_lost: int = 0
    unsigned: int = 0  # batches and liveness messages not signed by the agent's key
    offline_refused: int = 0  # offline messages unsigned, without a time, or replayed
    conflicts: int = 0  # a seq already taken, arriving with other content
    clock_held_batches: int = 0  # batches kept, not used: the agent's clock was off
    clock_held_statuses: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def _standby_fence(_: Connection) -> None:
    raise LeaseLostError("this collector is the standby: the active one writes the ledger")


class Collector:
    def __init__(
        self,
        settings: CollectorSettings,
        inventory: Inventory,
        policies: PolicyBook,
        *,
        client_id: str | None = None,
        lease: Lease | None = None,
        standby: bool = False,
    ) -> None:
        """``lease``: held, when collectors share a PostgreSQL ledger (this one active).
        ``standby``: another collector holds it; this one only shows the ledger (its
        console and API read-only, ``catch_up`` following the active one's commits) and
        never runs: every ledger transaction it would begin is refused."""
        self.settings = settings
        self.lease = lease
        self.standby = standby
        self.policies = policies
        self.zone = ZoneInfo(policies.default.timezone)
        fence = _standby_fence if standby else None if lease is None else lease.fence
        self.ledger = Ledger(from_settings(settings.ledger), fence)
        # A standby reads the ledger the active collector writes meanwhile: its head,
        # checkpoint, journal and receipts as of one commit, as ``catch_up`` does.
        with self.ledger.snapshot_read() if standby else contextlib.nullcontext():
            self._caught_up = self.ledger.follow()  # what a standby shows (``catch_up``)
            self.pipeline = Pipeline(inventory, policies, self.ledger, lines=True)
            self.checkpoint = Checkpoint(self.ledger)
            self.checkpoint.restore(self.pipeline)
            self.receipts = Receipts(self.ledger, self.checkpoint.note)
        self.clocks = EdgeClocks(self.ledger, settings.clock_tolerance)
        # Each agent's latest connection (its online message's epoch and number).
        self._connection_of: dict[str, tuple[str | None, int]] = {}
        self._clock_warned: dict[str, datetime] = {}
        batch_lines = settings.influx.batch_lines if settings.influx else 5000
        self.spool = Spool(
            settings.spool.dir, max_bytes=settings.spool.max_bytes, segment_lines=batch_lines
        )
        self.counters = Counters()
        # Every dead letter is built here, every secret the collector knows replaced.
        self.letter_writer = DeadLetters(secrets_of(settings))
        # The notifier's alerts about failing channels are ledger rows, journaled like the
        # ingest's own notes: a restart re-derives them in their place.
        self.notifier = Notifier(
            self.ledger,
            note=lambda at, body: self.checkpoint.note("alert", at, body),
            committed=self.committed,
        )
        if settings.broker.password is not None:
            settings.broker.password.resolve()  # at start, not inside the ingest's reconnects
        self.alerting = settings.alerting
        if self.alerting is not None:
            for _, ref in self.alerting.secrets():
                ref.resolve()  # a missing key fails the start, not the first alert
            self.writer = AlertWriter({}, {}, self.zone, self.alerting.language)
        self._in_force(inventory)
        # Told after a new inventory is in force (the console's device index).
        self.on_reload: list[Callable[[], None]] = []
        # When each agent's last batch arrived (the collector's clock): the console shows
        # an agent gone silent, and that its devices are unknown, not down.
        self.agent_heard: dict[str, datetime] = {}
        # Each agent's latest report of its own load (by the report's time): a starved
        # agent shows as overloaded, its devices unknown, not as a dead fleet.
        self.agent_load: dict[str, AgentLoad] = {}
        # Told the first ledger row of each commit (the console's live updates).
        self.on_commit: list[Callable[[int], None]] = []
        # Parts that run beside the collector for as long as it runs (the composition
        # root adds the web layer here: the collector itself never imports it).
        self.beside: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        self.signer: HeadSigner | None = None
        self._ack_key = load_private(settings.signing.key) if settings.signing else None
        if self._ack_key is None:
            log.error(
                "no signing section: acks go out unsigned and no agent deletes a batch on "
                "them (their outboxes grow): give the collector a signing key (docs/wire.md)"
            )
        if settings.signing is not None:
            signing = settings.signing
            heads_file = signing.heads_file or settings.beside_ledger / (
                f"{settings.ledger.name if isinstance(settings.ledger, Path) else 'ledger'}"
                ".heads.jsonl"
            )
            self.signer = HeadSigner(
                self.ledger,
                load_private(signing.key),
                heads_file,
                signing.every_rows,
                signing.every.total_seconds(),
            )
        self._api_token = settings.api.token_value() if settings.api else None
        # Whether the ledger's disk takes commits (``/healthz``, the wall, an alert).
        self.store = StoreHealth()
        self._ahead_of_file = False  # a failed commit left the memory ahead of the file
        self.store.listeners.append(self._store_changed)
        self.client_id = client_id or client_id_for(self.ingest_sites)
        self.ingest = Ingest(
            settings.broker,
            client_id=self.client_id,
            shared_group=settings.shared_group,
            sites=self.ingest_sites,
            handle=self.take,
            store=self.store,
        )

    @property
    def clocks_off(self) -> dict[str, datetime]:
        """Agents whose clock is off now, since when (the collector's clock)."""
        return self.clocks.off()

    def committed(self, first: int) -> None:
        """Rows from ``first`` on were committed: whoever listens is told."""
        if self.ledger.next_seq > first:
            for listener in self.on_commit:
                listener(first)

    def take(self, messages: list[aiomqtt.Message]) -> Taken:
        """Take a group in one commit; StoreUnavailableError if the ledger's disk cannot
        take it now, with the memory set back to the last commit's (the group comes again)."""
        counters = replace(self.counters, reasons=dict(self.counters.reasons))
        try:
            if self._ahead_of_file:
                self._back_to_last_commit()
            return self._take(messages)
        except StoreUnavailableError:
            raise  # the write lock was not had: nothing was taken
        except STORE_ERRORS as exc:
            failure = unavailable(exc)
            if failure is None:
                raise
            self.counters = counters
            self._ahead_of_file = True
            with contextlib.suppress(*STORE_ERRORS):
                self._back_to_last_commit()  # or before the next attempt
            raise failure from exc

    def catch_up(self) -> None:
        """The standby: the pipeline as the active collector's last commit left it (its
        checkpoint and journal, read in one snapshot of the database, as a restart reads
        them), and the console told of the rows since."""
        first = self._caught_up
        with self.ledger.snapshot_read():
            head = self.ledger.follow()
            if head == first:
                return
            pipeline = Pipeline(self.inventory, self.policies, self.ledger, lines=True)
            checkpoint = Checkpoint(self.ledger)
            checkpoint.restore(pipeline)
            self.pipeline, self.checkpoint = pipeline, checkpoint
            self.receipts = Receipts(self.ledger, self.checkpoint.note)
            self.clocks = EdgeClocks(self.ledger, self.settings.clock_tolerance)
        self._caught_up = head  # only now: a failed round is tried again
        self.committed(first)

    def release(self) -> None:
        """The standby, taking over: what it held let go, nothing saved (it wrote nothing)."""
        self.spool.close()
        self.ledger.close()

    def _back_to_last_commit(self) -> None:
        """A commit failed half way (a full disk): the pipeline, the receipts, the agents'
        clocks and the spool are set back to what the file holds, as a restart would. On a
        shared ledger the lease is asked first: a collector that lost it (paused past it)
        stops (LeaseLostError) instead of restoring from rows another collector wrote."""
        if self.lease is not None:
            self.lease.renew()
        self.spool.rewind()
        pipeline = Pipeline(self.inventory, self.policies, self.ledger, lines=True)
        checkpoint = Checkpoint(self.ledger)
        checkpoint.restore(pipeline)
        self.pipeline, self.checkpoint = pipeline, checkpoint
        self.receipts = Receipts(self.ledger, self.checkpoint.note)
        self.clocks = EdgeClocks(self.ledger, self.settings.clock_tolerance)
        self._ahead_of_file = False

    def _take(self, messages: list[aiomqtt.Message]) -> Taken:
        letters: list[DeadLetter] = []
        senders: set[tuple[str, str, str | None]] = set()
        first = self.ledger.next_seq
        with self.ledger.transaction():
            for message in messages:
                payload = message.payload
                if not isinstance(payload, bytes):
                    payload = str(payload).encode()
                try:
                    refused = self._take_one(str(message.topic), payload, senders, message.retain)
                    if refused is not None:
                        letters.append(refused)
                        self._count(refused.reason)
                except (WireError, ValidationError, ValueError, UnknownTicketError) as exc:
                    letter = self.letter_writer.refused(str(message.topic), payload, exc)
                    letters.append(letter)
                    self._count(letter.reason)
            assert self.pipeline.lines is not None
            self.spool.append(self.pipeline.lines)
            self.pipeline.lines.clear()
            self.spool.sync()
            self.checkpoint.save_if_due(self.pipeline)
        if self.signer is not None:
            self.signer.sign_if_due()
        self.notifier.wake()
        self.committed(first)
        heard = datetime.now(UTC)
        for _, agent_id, _ in senders:
            self.agent_heard[agent_id] = heard
        self.counters.dead_letters += len(letters)
        receipts = [
            (ack_topic(site, agent_id), self.signed_ack(agent_id, epoch))
            for site, agent_id, epoch in sorted(senders, key=str)
        ]
        return Taken(letters, receipts)

    def _store_changed(self, event: dict[str, Any]) -> None:
        """The ledger's disk stopped taking commits (an alert sent straight to the sinks:
        the ledger cannot hold it) or takes them again (an alert row, delivered as any)."""
        since = datetime.fromisoformat(event["blocked_since"])
        alert = {
            "alert": STORE_RECOVERED if event["ok"] else STORE_FAILING,
            "collector": self.client_id,
            "ledger": str(self.ledger.where),
            "reason": event["reason"],
            "error": event["detail"],
            "since": format_timestamp(since),
            "held_messages": event["held_messages"],
        }
        if not event["ok"]:
            self.notifier.announce({"at": alert["since"], **alert})
            return
        recovered = format_timestamp(datetime.fromisoformat(event["cleared_at"]))
        first = self.ledger.next_seq
        try:
            with self.ledger.transaction():
                self.checkpoint.note("alert", recovered, alert | {"recovered": recovered})
        except StoreUnavailableError as exc:  # blocked again already: said when it clears
            log.warning("the store's recovery not recorded yet: %s", exc)
            return
        self.notifier.wake()
        self.committed(first)

    def signed_ack(self, agent_id: str, epoch: str | None) -> bytes:
        """The receipt of one agent's sequence, signed with the collector's key: the agent
        deletes batches only on an ack its copy of our public key verifies."""
        payload = encode_ack(self.receipts.ack(agent_id, epoch))
        return payload if self._ack_key is None else sign(payload, self._ack_key)

    def _count(self, reason: str) -> None:
        """Counted by the field that was wrong, indexes folded (``statuses[n].health``),
        and at most ``MAX_REASONS`` kinds: bad input cannot grow the counters."""
        key = re.sub(r"\[\d+\]", "[n]", reason.split(":", 1)[0])[:80]
        reasons = self.counters.reasons
        if key not in reasons and len(reasons) >= MAX_REASONS:
            key = "other"
        reasons[key] = reasons.get(key, 0) + 1

    def _take_one(
        self, topic: str, payload: bytes, senders: set[tuple[str, str, str | None]], retained: bool
    ) -> DeadLetter | None:
        """Take one message; a batch some of whose statuses are refused is taken without
        them and the refusal returned as a dead letter (raising refuses the whole message)."""
        if topic == COMMAND_TOPIC:
            command = AckCommand.model_validate_json(payload)
            if not self.token_matches(command.token):
                raise ValueError("token: wrong or no API token configured; not acknowledged")
            if self.letter_writer.holds_secret(command.by):
                # It would be in the ledger for good, shown on every page that names it.
                raise ValueError("by: holds a secret (the API token?); not acknowledged")
            self.acknowledge(command.ticket_id, command.device_id, command.by, command.at)
            return None
        site, agent_id, leaf = parse_topic(topic)
        self._may_speak(site, agent_id)
        self._check_signed(agent_id, payload)
        if leaf == "alive":
            alive = decode_alive(payload)
            if alive.agent_id != agent_id:
                raise WireError("agent_id", f"{alive.agent_id!r} published on {agent_id!r}'s topic")
            if alive.online and alive.connection is not None:
                latest = self._connection_of.get(agent_id)
                if latest is None or latest[0] != alive.epoch or latest[1] < alive.connection:
                    self._connection_of[agent_id] = (alive.epoch, alive.connection)
            # A retained "offline" is history (met again at every resubscribe, or left by
            # anyone): only a live one, the will firing now, makes the agent's devices
            # unknown; devices of an agent that died while we were away go stale anyway.
            if not alive.online and not retained:
                self._current_offline(agent_id, alive)
                self.counters.agents_lost += 1
                self.checkpoint.agent_lost(agent_id)
                self.pipeline.agent_lost(agent_id)
            return None
        batch = decode_batch(payload)
        if batch.agent_id != agent_id or batch.site != site:
            raise WireError("agent_id", f"batch of {batch.agent_id!r} published on {topic!r}")
        at = batch.statuses[-1].observed_at if batch.statuses else batch.sent_at
        if batch.lost:
            self.receipts.lost(agent_id, batch.epoch, batch.lost, at)
        senders.add((site, agent_id, batch.epoch))
        verdict = self.receipts.take(agent_id, batch.epoch, batch.seq, at, content_digest(payload))
        if verdict is Verdict.DUPLICATE:
            self.counters.duplicates += 1  # a replayed outbox: already in the ledger
            return None
        if verdict is Verdict.CONFLICT:
            self.counters.conflicts += 1
            where = f"{agent_id}/{batch.epoch or '-'}"
            log.error("batch %d of %s arrived again with other content: refused", batch.seq, where)
            reason = (
                f"seq: batch {batch.seq} of {where} is in already with other content: a "
                "conflict (the first is kept; this one is here)"
            )
            return self.letter_writer.letter(topic, reason, payload)
        self._note_load(agent_id, batch.load)
        arrived = datetime.now(UTC)
        reading = self.clocks.judge(agent_id, batch.sent_at, arrived, batch.clock)
        if reading.off or reading.leapt or batch.clock is ClockState.STEPPED:
            self._hold(agent_id, batch, payload, arrived, reading)
            return None
        if self.clocks.is_off(agent_id):
            self._clock_right(agent_id, arrived, reading)
        statuses, problems = self._admissible(site, agent_id, batch.statuses, batch.sent_at)
        if problems:
            # The journal keeps what was taken: a restore re-runs exactly that.
            payload = encode_batch(batch.model_copy(update={"statuses": statuses}))
        self.checkpoint.batch(agent_id, payload, len(statuses))
        self.pipeline.take(agent_id, statuses)
        self.counters.batches += 1
        self.counters.statuses += len(statuses)
        if not problems:
            return None
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        return self.letter_writer.letter(topic, shown, payload_of_refused(batch, statuses))

    def _note_load(self, agent_id: str, load: AgentLoad | None) -> None:
        """Keep the agent's latest load report; one replayed from its outbox is older."""
        if load is None:
            return
        kept = self.agent_load.get(agent_id)
        if kept is not None and load.at < kept.at:
            return
        self.agent_load[agent_id] = load
        if load.overloaded and (kept is None or not kept.overloaded):
            log.error(
                "agent %s is overloaded: %d results of its last %g s discarded as its own "
                "stall, %d probes late, %d cycles missed (those devices are unknown)",
                agent_id, load.stalled_results, load.window_s, load.late, load.missed,
            )  # fmt: skip

    def _check_signed(self, agent_id: str, payload: bytes) -> None:
        """An agent is heard only in messages its registered key signed (the inventory
        registers a key for every agent it lists), unless it has none and its site opts in
        to unsigned agents (migration only)."""
        key = self._agent_keys.get(agent_id)
        if key is None and agent_id in self.unsigned_agents:
            return
        if key is None or not signed_by(payload, key):
            self.counters.unsigned += 1
            raise WireError("sig", f"not signed by agent {agent_id}'s registered key: refused")

    def _current_offline(self, agent_id: str, alive: Alive) -> None:
        """A live offline message is the will of the agent's current connection (or its
        goodbye), or refused: one of an earlier connection than the agent's latest online
        (a will replayed), or without a connection number, says nothing about the agent now."""
        latest = self._connection_of.get(agent_id)
        number = alive.connection
        stale = latest is not None and (latest[0] != alive.epoch or (number or 0) < latest[1])
        if stale or number is None:
            self.counters.offline_refused += 1
            raise WireError(
                "connection",
                f"offline of agent {agent_id} from an earlier connection than its latest "
                "(a replayed will), or without one: refused",
            )

    def _hold(
        self, agent_id: str, batch: Batch, payload: bytes, arrived: datetime, reading: Reading
    ) -> None:
        """The agent's clock is off: the batch is kept (not lost, acked) but not used, and
        the agent's devices are unknown from their last observation until it is right."""
        self.clocks.hold(agent_id, batch.epoch, batch.seq, arrived, reading, payload)
        self.counters.clock_held_batches += 1
        self.counters.clock_held_statuses += len(batch.statuses)
        if reading.leapt:
            log.error(
                "batch %d of agent %s was sent %s ahead of the agent's recent clock: kept unused",
                batch.seq, agent_id, reading.offset,
            )  # fmt: skip
        if batch.clock is ClockState.STEPPED:
            log.error(
                "batch %d of agent %s was observed before its clock was set: kept unused",
                batch.seq, agent_id,
            )  # fmt: skip
        if self.clocks.is_off(agent_id) or not reading.off:
            return
        self.clocks.mark_off(agent_id, arrived)
        offset = reading.offset.total_seconds()
        log.error(
            "agent %s's clock is %+.0f s off the collector's (tolerance %s, time service: %s): "
            "its devices are unknown and its batches kept unused until it is right",
            agent_id, offset, self.settings.clock_tolerance, reading.state.value,
        )  # fmt: skip
        body = {"agent_id": agent_id, "offset_s": round(offset, 3), "clock": reading.state.value}
        self.checkpoint.note("clock_off", format_timestamp(arrived), body)
        self._clock_alert(CLOCK_OFF, agent_id, arrived, arrived, reading)
        self.checkpoint.agent_lost(agent_id)
        self.pipeline.agent_lost(agent_id)

    def _clock_right(self, agent_id: str, arrived: datetime, reading: Reading) -> None:
        since = self.clocks.mark_right(agent_id)
        offset = reading.offset.total_seconds()
        log.warning(
            "agent %s's clock is right again (%+.1f s): its batches are used", agent_id, offset
        )
        body = {
            "agent_id": agent_id, "offset_s": round(offset, 3), "clock": reading.state.value,
            "off_since": format_timestamp(since),
        }  # fmt: skip
        self.checkpoint.note("clock_ok", format_timestamp(arrived), body)
        self._clock_alert(CLOCK_OK, agent_id, since, arrived, reading)

    def _clock_alert(
        self, kind: str, agent_id: str, since: datetime, at: datetime, reading: Reading
    ) -> None:
        """The operator is told, through the alert channels, with the offset."""
        site = self._site_of_agent[agent_id]
        devices = sum(
            1 for d in self.inventory.devices if d.site == site and d.agent in (None, agent_id)
        )
        alert = {
            "alert": kind,
            "agent_id": agent_id,
            "site": site,
            "offset_s": round(reading.offset.total_seconds(), 3),
            "tolerance_s": self.settings.clock_tolerance.total_seconds(),
            "clock": reading.state.value,
            "since": format_timestamp(since),
            "devices": devices,
        }
        self.checkpoint.note("alert", format_timestamp(at), alert)

    def _may_speak(self, site: str, agent_id: str) -> None:
        """Refuse, before it leaves any trace (no ledger row, no ack, no metrics series),
        a message of a site that is not ours, of an agent its site does not list, or of an
        agent published under another site than its own."""
        agents = self._agents_of.get(site)
        if agents is None:
            raise WireError("site", f"{site!r} is not a site of this collector's inventory")
        home = self._site_of_agent.get(agent_id)
        if home is not None and home != site:
            raise WireError("agent_id", f"agent {agent_id} reports for site {home}, not {site}")
        if agent_id not in agents:
            raise WireError(
                "agent_id", f"agent {agent_id} is not registered for site {site} (sites[].agents)"
            )

    def _admissible(
        self, site: str, agent_id: str, statuses: list[Status], sent_at: datetime
    ) -> tuple[list[Status], list[str]]:
        """The statuses to take: each for a device of the batch's site (an agent speaks for
        its own site only), observed before its batch was sent and no further ahead of our
        clock than the tolerance."""
        now = datetime.now(UTC)
        ahead = now + self.settings.clock_tolerance
        sent_by = sent_at + SENT_SLACK
        latest = self.pipeline.watermark  # the bound is in event time: none before any
        behind = latest - self.settings.late_bound if latest is not None else None
        site_of = self._site_of
        taken: list[Status] = []
        problems: list[str] = []
        agent_of = self._agent_of
        for n, status in enumerate(statuses):
            home = site_of.get(status.device_id)
            polled_by = agent_of.get(status.device_id)
            if home is None:
                problems.append(
                    f"statuses[{n}].device_id: {status.device_id} is not in the inventory"
                )
            elif home != site:
                problems.append(
                    f"statuses[{n}].device_id: {status.device_id} belongs to site {home}, "
                    f"not {site}"
                )
            elif polled_by is not None and polled_by != agent_id:
                problems.append(
                    f"statuses[{n}].device_id: {status.device_id} is polled by agent "
                    f"{polled_by}, not {agent_id}"
                )
            elif status.observed_at > ahead:
                lead = status.observed_at - ahead + self.settings.clock_tolerance
                problems.append(
                    f"statuses[{n}].observed_at: {format_timestamp(status.observed_at)} is "
                    f"{lead} ahead of the collector's clock (tolerance "
                    f"{self.settings.clock_tolerance})"
                )
                self._clock_off(agent_id, lead)
            elif status.observed_at > sent_by:
                problems.append(
                    f"statuses[{n}].observed_at: {format_timestamp(status.observed_at)} is after "
                    f"its batch was sent ({format_timestamp(sent_at)})"
                )
            elif behind is not None and status.observed_at < behind:
                problems.append(
                    f"statuses[{n}].observed_at: {format_timestamp(status.observed_at)} is "
                    f"older than the late-data bound ({self.settings.late_bound} before the "
                    "latest observation)"
                )
            else:
                taken.append(status)
        return taken, problems

    def _clock_off(self, agent_id: str, lead: timedelta) -> None:
        self.counters.clock_refused += 1
        last = self._clock_warned.get(agent_id)
        now = datetime.now(UTC)
        if last is None or now - last > timedelta(minutes=10):
            self._clock_warned[agent_id] = now
            log.error(
                "agent %s observes %s ahead of the collector's clock: refused", agent_id, lead
            )

    def token_matches(self, offered: str) -> bool:
        """The one check of the API token, for the HTTP API and the MQTT command alike."""
        token = self._api_token
        return token is not None and hmac.compare_digest(offered.encode(), token.encode())

    def acknowledge(
        self,
        ticket_id: str | None,
        device_id: str | None,
        by: str,
        at: datetime | None = None,
        note: str | None = None,
    ) -> Ticket:
        """Acknowledge inside the caller's transaction; UnknownTicketError if none matches."""
        if ticket_id is None:
            ticket = self.pipeline.faults.ticket_for_device(device_id or "")
            if ticket is None:
                raise UnknownTicketError(f"no open ticket on device {device_id!r}")
            ticket_id = ticket.id
        ticket = self.pipeline.faults.tickets.get(ticket_id)
        if ticket is None or ticket.merged_into is not None:
            # Refused before anything is journaled: a restart re-runs the journal, and an
            # input that cannot be re-run would stop it.
            raise UnknownTicketError(f"no ticket {ticket_id!r}")
        if ticket.acknowledged_at is not None:
            return ticket  # already acknowledged: one row, however often it is asked
        moment = at or datetime.now(UTC)  # an operator's action happens on the wall clock
        self.checkpoint.acknowledgement(ticket_id, by, moment, note)
        event = self.pipeline.acknowledge(ticket_id, by, moment, note)
        self.counters.acknowledgements += 1
        return event.ticket

    def acknowledge_now(self, ticket_id: str, by: str, note: str | None = None) -> dict[str, Any]:
        """The API's acknowledgement: its own transaction."""
        first = self.ledger.next_seq
        with self.ledger.transaction():
            ticket = self.acknowledge(ticket_id, None, by, note=note)
        self.notifier.wake()
        self.committed(first)
        return ticket_body(ticket)

    def reload_inventory(self, inventory: Inventory, digest: str, by: str) -> dict[str, Any]:
        """Put ``inventory`` in force now, as a restart would: the pipeline keeps what it
        knows (states, tickets, which agent has which device), devices added are taken,
        removed ones ignored. The ledger records the change (the file's SHA-256 and the
        ids added, removed and changed), and a checkpoint is saved with it, so no input
        taken under the old inventory is ever re-run under the new one."""
        self.policies.check(inventory, self.settings.inventory)
        changes = device_changes(self.inventory.devices, inventory.devices)
        added, removed, changed = changes.added, changes.removed, sorted(changes.changed)
        change = {
            "digest": digest,
            "devices": len(inventory.devices),
            "added": added,
            "removed": removed,
            "changed": changed,
            "by": by,
        }
        pipeline = Pipeline(inventory, self.policies, self.ledger, lines=True)
        pipeline.load(self.pipeline.memory())
        # Changes that reach into days already measured wait for the bureau's approval.
        now = datetime.now(UTC)
        back_dated = inventory_change(
            self.inventory, inventory, now.astimezone(self.zone).date(), self.zone, by, digest
        )
        first = self.ledger.next_seq
        with self.ledger.transaction():
            self.checkpoint.note(INVENTORY, format_timestamp(now), change)
            if back_dated is not None:
                requested = replace(back_dated, id=secrets.token_hex(4), requested_at=now)
                self.checkpoint.note(EXEMPTION, format_timestamp(now), requested.body("announced"))
            self.pipeline = pipeline
            self.checkpoint.save(pipeline)
        sites = self.ingest_sites
        self._in_force(inventory)
        if self.ingest_sites != sites:
            retarget = asyncio.get_running_loop().create_task(
                self.ingest.retarget(self.ingest_sites)
            )
            self._background.add(retarget)
            retarget.add_done_callback(self._background.discard)
        self.committed(first)
        for listener in self.on_reload:
            listener()
        log.warning(
            "inventory %s in force: %d devices, %d added, %d removed, %d changed (by %s)",
            digest[:12], len(inventory.devices), len(added), len(removed), len(changed), by,
        )  # fmt: skip
        return change

    def _in_force(self, inventory: Inventory) -> None:
        """What the ingest and the alerts read from the inventory: whose site a device
        is, where it is for routing and wording (at start, and at each reload)."""
        self.inventory = inventory
        # The devices' credentials the collector happens to be able to read (they are
        # the agents': it needs none) are kept out of the dead letters too.
        self.letter_writer.know(values(credential_secrets(inventory)))
        self._site_of = {device.id: device.site for device in inventory.devices}
        # Who may speak for what (docs/collector.md): a site's registered agents, and the
        # agent a device is assigned to.
        self._agents_of = {site.id: frozenset(site.agents) for site in inventory.sites}
        self._site_of_agent = {a: site.id for site in inventory.sites for a in site.agents}
        self._agent_of = {d.id: d.agent for d in inventory.devices if d.agent is not None}
        self._agent_keys = {
            agent: public_from_text(text)
            for site in inventory.sites
            for agent, text in site.agent_keys.items()
        }
        # Agents heard unsigned: their site opts in, for migration (docs/security.md).
        self.unsigned_agents = frozenset(a for g in unsigned_agents(inventory).values() for a in g)
        if self.unsigned_agents:
            log.warning(
                "agents %s are heard UNSIGNED (allow_unsigned_agents): anyone who can publish "
                "on the broker may speak in their name; register their keys "
                "(`slawatch-agent keys new`) and drop the opt-in",
                sorted(self.unsigned_agents),
            )
        self.ingest_sites = sorted(self._agents_of)
        unheard = sorted(site for site, agents in self._agents_of.items() if not agents)
        if unheard:
            log.warning("sites %s register no agent (sites[].agents): none is heard", unheard)
        if self.alerting is not None:
            self.router = Router(self.alerting, inventory, self.zone)
            links = {link.id: link.name or link.id for link in inventory.links}
            self.writer.refer(self.router.places, links)

    def reload_from_settings(self, by: str) -> dict[str, Any]:
        """The inventory file the settings name, read again (SIGHUP, the API)."""
        data = self.settings.inventory.read_bytes()
        inventory = load_config(self.settings.inventory, Inventory)
        return self.reload_inventory(inventory, hashlib.sha256(data).hexdigest(), by)

    def attest(self, seq: int) -> SignedHead:
        """An export asks the collector to sign the head of its slice's last row:
        LookupError without a signing key, KeyError if the ledger has no such row."""
        if self.signer is None:
            raise LookupError("this collector signs nothing (no signing section)")
        return self.signer.attest(seq)

    def request_exemption(self, requested: Exemption) -> Exemption:
        """An exemption the contractor asks for (its id given here), recorded in the
        ledger (and journaled) with the moment it was asked."""
        found = replace(requested, id=secrets.token_hex(4), requested_at=datetime.now(UTC))
        self._record_exemption(found.body("announced"))
        return found

    def end_window(self, window_id: str, by: str) -> Exemption:
        """End a window now (one not yet begun is cancelled): KeyError if there is no
        such window."""
        found = {a.id: a for a in exemptions(self.ledger.connection)}[window_id]
        if found.what != "maintenance" or found.end is None:
            raise KeyError(window_id)
        now = datetime.now(UTC)
        end = max(now, found.start + timedelta(milliseconds=1))
        ended = replace(found, end=min(end, found.end), by=by, ended_early=True)
        self._record_exemption(ended.body("ended"))
        return ended

    def close_gap(
        self, agent_id: str, epoch: str | None, gap: tuple[int, int], reason: str, by: str
    ) -> None:
        """An admin closes a gap that will never fill (KeyError if none such is open)."""
        first = self.ledger.next_seq
        with self.ledger.transaction():
            self.receipts.close(agent_id, epoch, gap, reason, by, datetime.now(UTC))
        self.committed(first)

    def decide_exemption(
        self, exemption_id: str, approved: bool, by: str, note: str | None
    ) -> Exemption:
        """The bureau approves or rejects a request (the caller checked who may): KeyError
        if there is none, ValueError if it was decided already."""
        found = {a.id: a for a in exemptions(self.ledger.connection)}[exemption_id]
        if found.decision is not None:
            raise ValueError(f"exemption {exemption_id} was {found.status} already")
        decision = Decision(approved, by, datetime.now(UTC), note)
        self._record_exemption(decision.body(exemption_id))
        return replace(found, decision=decision)

    def _record_exemption(self, body: dict[str, Any]) -> None:
        first = self.ledger.next_seq
        with self.ledger.transaction():
            self.checkpoint.note(EXEMPTION, format_timestamp(datetime.now(UTC)), body)
        self.committed(first)

    async def run(self) -> None:
        async with AsyncExitStack() as stack, asyncio.TaskGroup() as group:
            if self.settings.broker.embedded:
                await stack.enter_async_context(embedded_broker(self.settings.broker))
            group.create_task(self.ingest.run())
            if self.settings.influx is not None:
                group.create_task(InfluxWriter(self.settings.influx, self.spool).run())
            else:
                group.create_task(self._seal_forever())
            session = await stack.enter_async_context(aiohttp.ClientSession())
            mqtt_alerts = MqttAlerts(self.settings.broker, f"{self.client_id}-alerts")
            stack.push_async_callback(mqtt_alerts.close)
            self.notifier.add("mqtt", mqtt_alerts.send, in_order=True)
            if self.alerting is not None:
                self._add_receivers(self.alerting, session)
            group.create_task(self.notifier.run())
            # Started (the sinks' marks are in the file): a lock held elsewhere is now
            # waited out by retrying, not by holding the event loop.
            self.ledger.wait_briefly()
            for part in self.beside:
                group.create_task(part())
            if self.signer is not None and self.settings.signing is not None:
                group.create_task(self._publish_heads(self.signer, self.settings.signing))

    def _add_receivers(self, alerting: Alerting, session: aiohttp.ClientSession) -> None:
        """One sink per channel of each receiver, taking the alerts routed to it."""
        for receiver in alerting.receivers:
            senders = [
                ChannelSender(channel, self.writer, session, alerting.smtp)
                for channel in receiver.channels
            ]

            def wants(alert: dict[str, Any], receiver_id: str = receiver.id) -> bool:
                return receiver_id in self.router.receivers_for(alert)

            for number, sender in enumerate(senders):
                self.notifier.add(
                    f"{receiver.id}/{number}-{sender.kind}",
                    sender.send,
                    wants=wants,
                    receiver=receiver,
                    kind=sender.kind,
                )

    async def _seal_forever(self) -> None:
        """No InfluxDB: the spool is the store; seal segments so they can be imported."""
        while True:
            raise_if_cancelled()
            await asyncio.sleep(1.0)
            self.spool.seal_if_older(60.0)

    async def _publish_heads(self, signer: HeadSigner, signing: SigningSettings) -> None:
        """Sign when due (a quiet ledger too) and publish the latest head, retained: an
        unreachable broker is retried; the heads file already holds the head."""
        published: SignedHead | None = None
        topic = signing.topic or head_topic_for(self.ingest_sites)
        while True:
            try:
                signer.sign_if_due()
            # The ledger unreadable for a moment (locked, its disk, a damaged table an
            # admin is repairing): the head is signed at a later turn, and the collector
            # lives on; ingest meets the same ledger and says what it finds.
            except (StoreUnavailableError, *STORE_ERRORS) as exc:
                log.error("ledger head not signed this turn (%s): tried again in 5 s", exc)
            latest = signer.latest
            if latest is not None and latest != published:
                try:
                    async with mqtt_client(
                        self.settings.broker, f"{self.client_id}-heads", clean_session=True
                    ) as client:
                        await client.publish(topic, latest.record(), qos=1, retain=True)
                    published = latest
                except aiomqtt.MqttError as exc:
                    log.warning("signed head of row %d not published yet: %s", latest.seq, exc)
            await asyncio.sleep(5.0)

    def close(self) -> None:
        """Save the pipeline's memory, unless the disk takes no write: then the journal,
        re-run at the next start, holds it all the same."""
        try:
            if self._ahead_of_file:
                self._back_to_last_commit()
            with self.ledger.transaction():
                self.checkpoint.save(self.pipeline)
        except (StoreUnavailableError, *STORE_ERRORS) as exc:
            if unavailable(exc) is None:
                raise
            log.error("pipeline memory not saved at stop (%s): the journal holds it", exc)
        if self.signer is not None:
            self.signer.sign()
        try:
            self.spool.close()
        except OSError as exc:
            log.error("spool not synced at stop (%s): its input was not acknowledged", exc)
        self.ledger.close()

    def status(self) -> dict[str, Any]:
        return {
            # Of collectors sharing a PostgreSQL ledger, the running one is the active
            # one; a standby shows the ledger read-only (collector/web/standby.py).
            "role": "standby" if self.standby else "active",
            "ledger_lease_term": None if self.lease is None else self.lease.term,
            "connected": self.ingest.connected,
            "watermark": self.pipeline.watermark.isoformat() if self.pipeline.watermark else None,
            "open_tickets": sum(1 for _ in self.pipeline.faults.open_tickets()),
            "ledger_rows": self.ledger.next_seq,
            "spool_segments": len(self.spool.sealed()),
            "open_gaps": self.receipts.open_gaps(),
            "store": self.store.status(),
            "alerts": self.alerts_status(),
            **vars(self.counters),
        }

    def alerts_status(self) -> dict[str, Any]:
        """The alert channels failing now (since when, why, whether the fallback was told)
        and the receivers whose alerts reach no one: every channel of theirs and of their
        fallbacks fails."""
        failing = self.notifier.outages()
        no_one = sorted({o["receiver"] for o in failing if o["reaching_no_one"]})
        return {"failing": failing, "reaching_no_one": no_one}

    def undelivered(self) -> dict[str, list[Undelivered]]:
        """By receiver, newest first: the alerts a channel of theirs did not deliver, and
        who got each all the same (the console's alert deliveries page)."""
        return self.notifier.undelivered()

    def deliveries(self) -> dict[str, Any]:
        """What the console's alert deliveries page shows."""
        receivers = self.alerting.receivers if self.alerting is not None else []
        return {
            "names": {receiver.id: receiver.name for receiver in receivers},
            "undelivered": self.undelivered(),
            **self.alerts_status(),
        }
