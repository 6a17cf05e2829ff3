"""The 3-way merge of a linked ticket with its incident, as pure functions.

Every sync compares three values per mapped field, in the provider's terms: the *base* (what
both sides last agreed on), the incident's current value and the ticket's. Only the incident
changed: push. Only the ticket changed: pull. Both changed, differently: the field's conflict
policy decides (mapping.py). A field with an open conflict is left alone until it is
resolved. Ticket versions say whether what a provider sends is newer than what was seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from app.models import (
    Classification,
    LinkedTicket,
)
from app.services.access.classification import field_readable
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.itsm.mapping import (
    ConflictPolicy,
    FieldRule,
    SourceOfTruth,
    SyncedField,
    internal_values,
    normalise,
)

_MISSING: Any = object()
# What leaves for a ticket is what a reader cleared INTERNAL could read: a ticket's readers are
# the provider's users, whom incidentgraph's classification does not know.
EXPORT_CLEARANCE = Classification.INTERNAL


def seen_version(ticket: LinkedTicket) -> int | None:
    """The newest ticket version seen (RemoteTicket.version), if the provider counts them."""
    return ticket.external_version


def against_seen(ticket: LinkedTicket, *, version: int | None, updated_at: datetime) -> int:
    """A ticket version against the newest seen: -1 older, 0 the same, 1 newer (or the first).
    By the revision counter when both have one (ServiceNow stamps updates to the second, so
    two in one second share a time), else by update time."""
    seen = seen_version(ticket)
    if version is not None and seen is not None:
        return (version > seen) - (version < seen)
    if ticket.external_updated_at is None:
        return 1
    return (updated_at > ticket.external_updated_at) - (updated_at < ticket.external_updated_at)


class Fallback(StrEnum):
    PUSH = "push"
    CONFLICT = "conflict"


@dataclass
class Plan:
    push: dict[str, str | None] = field(default_factory=dict)  # field -> provider value
    pull: dict[str, tuple[str | None, Fallback]] = field(default_factory=dict)
    conflicts: dict[str, str | None] = field(default_factory=dict)  # field -> provider value
    agreed: dict[str, str | None] = field(default_factory=dict)
    drift: list[str] = field(default_factory=list)


def decide(
    *,
    rules: Mapping[SyncedField, FieldRule],
    base: Mapping[str, Any],
    internal: Mapping[str, str | None],
    remote: Mapping[str, str | None],
    open_conflicts: Mapping[str, Any],
    changed_at: Mapping[str, str],
    remote_updated_at: datetime | None,
) -> Plan:
    """What to do per field. `internal` is in the provider's terms (`to_external`); `remote`
    holds the fields the ticket reported (a webhook may report some only)."""
    plan = Plan()
    for synced, rule in rules.items():
        name = synced.value
        if name in open_conflicts:
            continue
        mine = internal[name]
        theirs = remote.get(name, _MISSING)
        was = base.get(name, _MISSING)
        if theirs is _MISSING:
            if rule.source is not SourceOfTruth.EXTERNAL and was is not _MISSING and mine != was:
                plan.push[name] = mine
            continue
        if mine == theirs:
            plan.agreed[name] = theirs
            continue
        if rule.source is SourceOfTruth.INTERNAL:
            if was is not _MISSING and theirs != was:
                plan.drift.append(name)
            plan.push[name] = mine
            continue
        if rule.source is SourceOfTruth.EXTERNAL:
            plan.pull[name] = (theirs, Fallback.CONFLICT)
            continue
        mine_changed = was is _MISSING or mine != was
        theirs_changed = was is not _MISSING and theirs != was
        if mine_changed and not theirs_changed:
            plan.push[name] = mine
        elif theirs_changed and not mine_changed:
            plan.drift.append(name)
            plan.pull[name] = (theirs, Fallback.CONFLICT)
        else:
            _by_policy(plan, name, synced, rule, mine, theirs, changed_at, remote_updated_at)
    return plan


def _by_policy(
    plan: Plan,
    name: str,
    synced: SyncedField,
    rule: FieldRule,
    mine: str | None,
    theirs: str | None,
    changed_at: Mapping[str, str],
    remote_updated_at: datetime | None,
) -> None:
    policy = rule.policy
    if policy is ConflictPolicy.STATE_MACHINE and synced is not SyncedField.STATUS:
        policy = ConflictPolicy.MOST_RECENT_ALLOWED
    if policy is ConflictPolicy.INTERNAL_WINS:
        plan.push[name] = mine
    elif policy is ConflictPolicy.EXTERNAL_WINS:
        plan.pull[name] = (theirs, Fallback.CONFLICT)
    elif policy is ConflictPolicy.MANUAL:
        plan.conflicts[name] = theirs
    elif policy is ConflictPolicy.STATE_MACHINE:
        plan.pull[name] = (theirs, Fallback.CONFLICT)
    else:
        stamp = changed_at.get(name)
        ours = datetime.fromisoformat(stamp) if stamp else None
        if remote_updated_at is not None and (ours is None or remote_updated_at > ours):
            plan.pull[name] = (theirs, Fallback.PUSH)
        else:
            plan.push[name] = mine


def exportable_rules(
    rules: Mapping[SyncedField, FieldRule], snapshot: IncidentSnapshot
) -> dict[SyncedField, FieldRule]:
    """The fields of this incident that cross to its tickets. A field as classified as the
    higher of its own classification and its incident's: the title and description of a
    CONFIDENTIAL or RESTRICTED incident are neither pushed nor pulled while it is so;
    status, urgency and impact (PUBLIC) still are."""
    return {
        synced: rule
        for synced, rule in rules.items()
        if field_readable(EXPORT_CLEARANCE, snapshot.classification, synced.value)
    }


def withheld_title(snapshot: IncidentSnapshot) -> str:
    """A ticket's title when the incident's may not leave (a product may require one)."""
    return f"INC-{snapshot.number}: details withheld ({snapshot.classification.value})"


def remote_values(
    rules: Mapping[SyncedField, FieldRule], fields: Mapping[str, Any]
) -> dict[str, str | None]:
    return {
        synced.value: normalise(fields[rule.external])
        for synced, rule in rules.items()
        if rule.external in fields
    }


def internal_external(
    rules: Mapping[SyncedField, FieldRule], snapshot: IncidentSnapshot
) -> dict[str, str | None]:
    values = internal_values(snapshot, rules)
    return {s.value: rule.to_external(values[s.value]) for s, rule in rules.items()}
