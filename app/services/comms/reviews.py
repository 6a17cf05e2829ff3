"""Post-incident reviews: what was learnt from a resolved incident, and what must be done.

A review starts on a RESOLVED or CLOSED incident with an excerpt of its timeline; it moves
DRAFT -> IN_REVIEW -> PUBLISHED. A published version never changes: editing it starts the
next version, a DRAFT. Action items (owner, due, status, a linked change, problem or
article) belong to the incident's review whatever its version. Every step is an event on
the incident's timeline (`com.incidents.review.*.v1`), written in its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.clock import utcnow
from app.core.ids import parse_uuid
from app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from app.models import (
    ActionItem,
    ActionItemStatus,
    IncidentStatus,
    PostIncidentReview,
    ReviewStatus,
    TimelineEvent,
)
from app.services.access.caller import Caller
from app.services.access.classification import api_name
from app.services.comms.report import event_line
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot, get_visible_incident
from app.services.incidents.timeline import NewEvent
from app.services.people import users

REVIEW_STARTED = "com.incidents.review.started.v1"
REVIEW_UPDATED = "com.incidents.review.updated.v1"
REVIEW_PUBLISHED = "com.incidents.review.published.v1"
ACTION_ITEM_ADDED = "com.incidents.review.action_item_added.v1"
ACTION_ITEM_UPDATED = "com.incidents.review.action_item_updated.v1"
REVIEW_PREFIX = "pir_"
ACTION_ITEM_PREFIX = "act_"
EXCERPT_EVENTS = 100
LIST_MAX = 50
_REVIEWABLE = frozenset({IncidentStatus.RESOLVED, IncidentStatus.CLOSED})
TEXT_FIELDS = ("summary", "customer_impact", "residual_risk", "training_needs")
LIST_FIELDS = ("timeline_excerpt", "contributing_factors", "went_well", "went_badly")


@dataclass(frozen=True, slots=True)
class ReviewView:
    id: str
    incident_id: str
    version: int
    status: ReviewStatus
    summary: str | None
    customer_impact: str | None
    timeline_excerpt: tuple[str, ...]
    contributing_factors: tuple[str, ...]
    went_well: tuple[str, ...]
    went_badly: tuple[str, ...]
    residual_risk: str | None
    training_needs: str | None
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None

    @classmethod
    def of(cls, row: PostIncidentReview) -> ReviewView:
        return cls(
            id=str(row.id),
            incident_id=str(row.incident_id),
            version=row.version,
            status=row.status,
            summary=row.summary,
            customer_impact=row.customer_impact,
            timeline_excerpt=tuple(row.timeline_excerpt),
            contributing_factors=tuple(row.contributing_factors),
            went_well=tuple(row.went_well),
            went_badly=tuple(row.went_badly),
            residual_risk=row.residual_risk,
            training_needs=row.training_needs,
            created_at=row.created_at,
            updated_at=row.updated_at,
            published_at=row.published_at,
        )


@dataclass(frozen=True, slots=True)
class ActionItemView:
    id: str
    incident_id: str
    title: str
    owner_id: str | None
    due_at: datetime | None
    status: ActionItemStatus
    link: str | None

    @classmethod
    def of(cls, row: ActionItem) -> ActionItemView:
        return cls(
            id=str(row.id),
            incident_id=str(row.incident_id),
            title=row.title,
            owner_id=str(row.owner_id) if row.owner_id else None,
            due_at=row.due_at,
            status=row.status,
            link=row.link,
        )

    def overdue(self, now: datetime) -> bool:
        open_ = self.status in (ActionItemStatus.OPEN, ActionItemStatus.IN_PROGRESS)
        return open_ and self.due_at is not None and self.due_at < now


def _lines(value: Sequence[str], *, field: str) -> list[str]:
    if len(value) > LIST_MAX:
        raise ValidationFailed(f"{field} holds at most {LIST_MAX} entries", field=field)
    found = []
    for line in value:
        text = validation.text(line, field=field)
        if text is not None:
            found.append(text.strip())
    return found


def _changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        field = api_name(name)
        if name in TEXT_FIELDS:
            clean[name] = validation.text(value, field=field)
        elif name in LIST_FIELDS:
            clean[name] = _lines(value or [], field=field)
        else:
            raise ValidationFailed(f"{field} cannot be changed", field=field)
    return clean


async def _current(incident_id: uuid.UUID) -> PostIncidentReview | None:
    return await PostIncidentReview.filter(incident_id=incident_id).order_by("-version").first()


def _event_line(event: TimelineEvent) -> str:
    return f"{event.time:%Y-%m-%d %H:%M} UTC  {event_line(event.type, event.data)}"


async def start_review(*, caller: Caller, incident_id: str) -> tuple[ReviewView, CommandResult]:
    """The review's first version, a DRAFT with the timeline's excerpt; the incident must be
    RESOLVED or CLOSED and have none yet."""
    incident = await get_visible_incident(caller=caller, incident_id=incident_id)
    key = uuid.UUID(incident.id)
    if incident.status not in _REVIEWABLE:
        raise InvalidTransition(
            f"incident is {incident.status.value}: a review starts once it is resolved",
            field="incidentId",
        )
    events = await TimelineEvent.filter(incident_id=key).order_by("seq").limit(EXCERPT_EVENTS)
    excerpt = [_event_line(e) for e in events]
    review_id = uuid.uuid4()

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        if await PostIncidentReview.exists(incident_id=key):
            raise Conflict("the incident has a review already", field="incidentId")
        return [NewEvent(type=REVIEW_STARTED, data={"review": _gid(review_id), "version": 1})]

    async def write(snapshot: IncidentSnapshot) -> None:
        now = utcnow()
        await PostIncidentReview.create(
            id=review_id,
            tenant_id=caller.tenant_id,
            incident_id=key,
            timeline_excerpt=excerpt,
            created_by=caller.actor,
            created_at=now,
            updated_at=now,
        )

    result = await incident_commands.append_events(
        caller=caller, incident_id=incident.id, events=decide, also=write
    )
    return ReviewView.of(await PostIncidentReview.get(id=review_id)), result


async def update_review(
    *,
    caller: Caller,
    incident_id: str,
    changes: Mapping[str, Any],
    status: ReviewStatus | None = None,
) -> tuple[ReviewView, CommandResult]:
    """Change the review's text; move it between DRAFT and IN_REVIEW. A PUBLISHED review is
    not changed: its next version, a DRAFT, is made with the changes."""
    incident = await get_visible_incident(caller=caller, incident_id=incident_id)
    key = uuid.UUID(incident.id)
    clean = _changes(changes)
    if status is ReviewStatus.PUBLISHED:
        raise ValidationFailed("publish with publishReview", field="status")
    plan: dict[str, Any] = {}

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        current = await _current(key)
        if current is None:
            raise NotFound("the incident has no review: start one", field="incidentId")
        plan["current"] = current
        revising = current.status is ReviewStatus.PUBLISHED
        if revising and status is ReviewStatus.IN_REVIEW:
            raise InvalidTransition("a correction starts as a DRAFT", field="status")
        changed = sorted(k for k, v in clean.items() if getattr(current, k) != v)
        moved = status is not None and status is not current.status and not revising
        if not changed and not moved:
            return []
        version = current.version + 1 if revising else current.version
        plan["version"] = version
        data: dict[str, Any] = {"review": _gid(current.id), "version": version}
        data["fields"] = [api_name(k) for k in changed]
        if moved:
            data["status"] = {"from": current.status.value, "to": status.value if status else None}
        return [NewEvent(type=REVIEW_UPDATED, data=data)]

    async def write(snapshot: IncidentSnapshot) -> None:
        current: PostIncidentReview = plan["current"]
        now = utcnow()
        if current.status is ReviewStatus.PUBLISHED:
            values = {name: getattr(current, name) for name in (*TEXT_FIELDS, *LIST_FIELDS)}
            await PostIncidentReview.create(
                id=uuid.uuid4(),
                tenant_id=current.tenant_id,
                incident_id=key,
                version=plan["version"],
                status=ReviewStatus.DRAFT,
                created_by=caller.actor,
                created_at=now,
                updated_at=now,
                **{**values, **clean},
            )
        else:
            extra = {"status": status} if status is not None else {}
            await PostIncidentReview.filter(id=current.id).update(**clean, **extra, updated_at=now)

    result = await incident_commands.append_events(
        caller=caller, incident_id=incident.id, events=decide, also=write
    )
    found = await _current(key)
    assert found is not None
    return ReviewView.of(found), result


async def publish_review(*, caller: Caller, incident_id: str) -> tuple[ReviewView, CommandResult]:
    """Publish the current version (it needs a summary); it never changes again."""
    incident = await get_visible_incident(caller=caller, incident_id=incident_id)
    key = uuid.UUID(incident.id)
    plan: dict[str, PostIncidentReview] = {}

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        current = await _current(key)
        if current is None:
            raise NotFound("the incident has no review: start one", field="incidentId")
        if current.status is ReviewStatus.PUBLISHED:
            raise InvalidTransition("this version is published already", field="incidentId")
        if not (current.summary or "").strip():
            raise ValidationFailed("a review is published with a summary", field="summary")
        plan["current"] = current
        return [
            NewEvent(
                type=REVIEW_PUBLISHED,
                data={"review": _gid(current.id), "version": current.version},
            )
        ]

    async def write(snapshot: IncidentSnapshot) -> None:
        await PostIncidentReview.filter(id=plan["current"].id).update(
            status=ReviewStatus.PUBLISHED,
            published_at=utcnow(),
            published_by=caller.actor,
            updated_at=utcnow(),
        )

    result = await incident_commands.append_events(
        caller=caller, incident_id=incident.id, events=decide, also=write
    )
    found = await _current(key)
    assert found is not None
    return ReviewView.of(found), result


# --- action items ---------------------------------------------------------------------------


async def add_action_item(
    *,
    caller: Caller,
    incident_id: str,
    title: str,
    owner_id: str | None = None,
    due_at: datetime | None = None,
    link: str | None = None,
) -> ActionItemView:
    incident = await get_visible_incident(caller=caller, incident_id=incident_id)
    key = uuid.UUID(incident.id)
    clean = validation.title(title)
    owner = (
        (await users.active_user(tenant_id=caller.tenant_id, user_id=owner_id, field="ownerId")).id
        if owner_id
        else None
    )
    reference = validation.name(link, field="link")
    item_id = uuid.uuid4()

    async def decide(snapshot: IncidentSnapshot) -> list[NewEvent]:
        if not await PostIncidentReview.exists(incident_id=key):
            raise NotFound("the incident has no review: start one", field="incidentId")
        return [
            NewEvent(
                type=ACTION_ITEM_ADDED,
                data={"actionItem": ACTION_ITEM_PREFIX + item_id.hex, "title": clean},
            )
        ]

    async def write(snapshot: IncidentSnapshot) -> None:
        now = utcnow()
        await ActionItem.create(
            id=item_id,
            tenant_id=caller.tenant_id,
            incident_id=key,
            title=clean,
            owner_id=uuid.UUID(owner) if owner else None,
            due_at=due_at,
            link=reference,
            created_at=now,
            updated_at=now,
        )

    await incident_commands.append_events(
        caller=caller, incident_id=incident.id, events=decide, also=write
    )
    return ActionItemView.of(await ActionItem.get(id=item_id))


async def update_action_item(
    *, caller: Caller, action_item_id: str, changes: Mapping[str, Any]
) -> ActionItemView:
    key = parse_uuid(action_item_id.removeprefix(ACTION_ITEM_PREFIX))
    row = await ActionItem.get_or_none(tenant_id=caller.tenant_id, id=key) if key else None
    if row is not None:
        try:
            await get_visible_incident(caller=caller, incident_id=str(row.incident_id))
        except NotFound:
            row = None
    if row is None:
        raise NotFound(f"no action item with id {action_item_id!r}", field="id")
    wanted: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "title":
            wanted[name] = validation.title(value)
        elif name == "owner_id":
            wanted[name] = (
                uuid.UUID(
                    (
                        await users.active_user(
                            tenant_id=caller.tenant_id, user_id=value, field="ownerId"
                        )
                    ).id
                )
                if value
                else None
            )
        elif name == "due_at":
            wanted[name] = value
        elif name == "status":
            wanted[name] = ActionItemStatus(value)
        elif name == "link":
            wanted[name] = validation.name(value, field="link")
    diff = {k: v for k, v in wanted.items() if getattr(row, k) != v}
    if diff:
        data: dict[str, Any] = {
            "actionItem": ACTION_ITEM_PREFIX + row.id.hex,
            "fields": sorted(api_name(k) for k in diff),
        }
        if "status" in diff:
            data["status"] = {"from": row.status.value, "to": diff["status"].value}

        # A new due time is reminded of anew.
        reset = {"reminded_at": None} if "due_at" in diff else {}

        async def write(snapshot: IncidentSnapshot) -> None:
            await ActionItem.filter(id=row.id).update(**diff, **reset, updated_at=utcnow())

        await incident_commands.append_events(
            caller=caller,
            incident_id=str(row.incident_id),
            events=[NewEvent(type=ACTION_ITEM_UPDATED, data=data)],
            also=write,
        )
    return ActionItemView.of(await ActionItem.get(id=row.id))


# --- reads ----------------------------------------------------------------------------------


async def reviews_of(*, tenant_id: str, incident_ids: Sequence[str]) -> dict[str, ReviewView]:
    """Each incident's current review version: one statement for any number."""
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await PostIncidentReview.filter(tenant_id=tenant_id, incident_id__in=keys) if keys else []
    )
    found: dict[str, ReviewView] = {}
    for row in sorted(rows, key=lambda r: r.version):
        found[str(row.incident_id)] = ReviewView.of(row)
    return found


async def action_items_of(
    *, tenant_id: str, incident_ids: Sequence[str]
) -> dict[str, list[ActionItemView]]:
    keys = [k for k in (parse_uuid(i) for i in incident_ids) if k is not None]
    rows = (
        await ActionItem.filter(tenant_id=tenant_id, incident_id__in=keys).order_by("created_at")
        if keys
        else []
    )
    found: dict[str, list[ActionItemView]] = {i: [] for i in incident_ids}
    for row in rows:
        found.setdefault(str(row.incident_id), []).append(ActionItemView.of(row))
    return found


def _gid(review_id: uuid.UUID | str) -> str:
    return REVIEW_PREFIX + uuid.UUID(str(review_id)).hex
