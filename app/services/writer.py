"""The one commit path of incident changes.

A command decides what changes (the projection row, its new timeline events); the writer
makes it durable and tells the rest of the system, always the same way:

1. inside the command's transaction: the guarded update of the incident's row (`update`:
   only where its last_seq is still the one the command read, else `LostRace` and the
   command decides again), the events with their per-incident seqs, one outbox row carrying
   the incident snapshot and the events, the audit record, then every hook registered with
   `on_change` (an integration reacting to the change in the same transaction: the ticket
   sync queues its jobs there), and last of all the events' positions in the tenant's feed
   (`feed.positions.stamp`, whose lock orders the tenant's commits);
2. after the commit, and only then: the outbox row to the relay (`outbox.committed`, which
   the query cache also hears) and whatever the hooks asked to run after commit.

A command that rolls back does none of step 2. The incident core imports no integration:
integrations register their hooks from `app.main` when the application starts.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from tortoise.transactions import in_transaction

from app.models import Incident, TimelineEvent
from app.pubsub import outbox
from app.services.access import audit
from app.services.feed import positions
from app.services.incidents import sla_marks
from app.services.incidents.snapshot import MODEL_FIELDS, IncidentSnapshot
from app.services.incidents.timeline import EventRecord, NewEvent, build_rows
from app.services.retention import policy as retention


class LostRace(Exception):
    """A guarded update matched no row: another writer got there first."""


# The projection's columns a command may change (the rest are set once, at declaration).
WRITABLE_FIELDS = tuple(
    name
    for name in MODEL_FIELDS
    if name not in ("number", "created_at", "declared_by", "legal_hold")
) + (
    "sla_paused_seconds",
    "sla_fired",
    "sla_next_at",
    "update_due_at",
    "update_due_noted",
    "reopen_count",
)


@dataclass(frozen=True, slots=True)
class Change:
    """One incident's change, as written: what hooks are told."""

    before: IncidentSnapshot | None
    after: IncidentSnapshot
    new_events: Sequence[NewEvent]
    events: Sequence[EventRecord]
    now: datetime


# A hook runs inside the transaction; it may write, and may return what to run after commit.
Hook = Callable[[Change], Awaitable[Callable[[], None] | None]]

_hooks: dict[Hook, int] = {}


def on_change(hook: Hook) -> Callable[[], None]:
    """Run `hook` for every incident change written from now on; returns the function that
    stops it. Registering one hook twice (two applications in one process) runs it once."""
    _hooks[hook] = _hooks.get(hook, 0) + 1

    def stop() -> None:
        left = _hooks.get(hook, 0) - 1
        if left > 0:
            _hooks[hook] = left
        else:
            _hooks.pop(hook, None)

    return stop


@dataclass(slots=True)
class Commit:
    """What one transaction wrote, and what is owed once it commits."""

    messages: list[outbox.Pending] = field(default_factory=list)
    # Events written in the transaction (incidents' and records'), in order, for the feed.
    feed: list[positions.Entry] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    async def update(self, row: Incident, *, seen_seq: int) -> None:
        """Write the incident's row where its last_seq is still `seen_seq`; LostRace if not.
        Its next SLA mark is placed again from what the change made of its clocks."""
        row.sla_next_at = sla_marks.next_at(row)
        updated = await Incident.filter(id=row.id, last_seq=seen_seq).update(
            **{name: getattr(row, name) for name in WRITABLE_FIELDS}
        )
        if not updated:
            raise LostRace

    async def record(
        self,
        before: IncidentSnapshot | None,
        after: IncidentSnapshot,
        new_events: Sequence[NewEvent],
        *,
        actor: str | None,
        now: datetime,
        first_seq: int,
        audited: int | None = None,
        hooks: bool = True,
    ) -> list[EventRecord]:
        """Write `new_events` as seqs first_seq.., the outbox row and the audit record of
        `after` (the first `audited` events in it; all by default), then run the hooks unless
        the command handles its integrations itself (`hooks=False`)."""
        if before is not None:
            # A CLOSED incident past the tenant's read-only age takes no change at all.
            await retention.require_writable(
                tenant_id=before.tenant_id,
                status=before.status,
                closed_at=before.closed_at,
                number=before.number,
            )
        events = await _write_events(after, new_events, actor=actor, now=now, first_seq=first_seq)
        self.feed.extend(
            positions.Entry(
                tenant_id=after.tenant_id,
                record_type=positions.INCIDENT,
                record_id=after.id,
                event_row=e.id,
                type=e.type,
                time=e.time,
            )
            for e in events
        )
        self.messages.append(await _enqueue(after, events))
        await _audit(before, after, events[:audited])
        if hooks:
            change = Change(before, after, new_events, events, now)
            for hook in tuple(_hooks):
                then = await hook(change)
                if then is not None:
                    self.after_commit.append(then)
        return events

    def committed(self) -> None:
        for message in self.messages:
            outbox.committed(message)
        for action in self.after_commit:
            action()


_current: ContextVar[Commit | None] = ContextVar("writer_commit", default=None)


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[Commit]:
    """One database transaction whose incident changes are recorded through the writer;
    the owed after-commit work runs when (and only if) it commits. Records' events written
    inside it (`current()`) are announced with it."""
    commit = Commit()
    token = _current.set(commit)
    try:
        async with in_transaction():
            yield commit
            if commit.feed:
                await positions.stamp(commit.feed)
    finally:
        _current.reset(token)
    commit.committed()


def current() -> Commit:
    """The writer transaction under way; RuntimeError outside one."""
    commit = _current.get()
    if commit is None:
        raise RuntimeError("a record's events are written inside writer.transaction()")
    return commit


async def _write_events(
    snapshot: IncidentSnapshot,
    new_events: Sequence[NewEvent],
    *,
    actor: str | None,
    now: datetime,
    first_seq: int,
) -> list[EventRecord]:
    rows = build_rows(
        tenant_id=snapshot.tenant_id,
        incident_id=uuid.UUID(snapshot.id),
        first_seq=first_seq,
        events=new_events,
        actor=actor,
        now=now,
    )
    await TimelineEvent.bulk_create(rows)
    return [EventRecord.from_model(r) for r in rows]


async def _enqueue(snapshot: IncidentSnapshot, events: Sequence[EventRecord]) -> outbox.Pending:
    return await outbox.enqueue(
        tenant_id=snapshot.tenant_id,
        incident_id=snapshot.id,
        body={"incident": snapshot.to_json(), "events": [e.to_json() for e in events]},
    )


_UNAUDITED = frozenset({"updated_at", "last_seq", "version", "tenant_id"})


async def _audit(
    before: IncidentSnapshot | None, after: IncidentSnapshot, events: Sequence[EventRecord]
) -> None:
    """The audit record of a command: its field deltas and the events it appended."""
    old = before.to_json() if before else {}
    new = after.to_json()
    deltas = {
        name: {"from": old.get(name), "to": value}
        for name, value in new.items()
        if name not in _UNAUDITED and old.get(name) != value
    }
    await audit.record(
        tenant_id=after.tenant_id,
        action="incident." + events[0].type.split(".")[2],
        target=after.id,
        changes={"fields": deltas, "events": [{"seq": e.seq, "type": e.type} for e in events]},
    )
