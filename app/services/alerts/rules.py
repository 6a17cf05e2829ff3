"""A tenant's correlation rules as admins edit them: listed, created, changed, moved, deleted.

Rules keep dense positions from 1 (the order the processor tries them in); creating or moving
a rule to a position shifts the others. Every change is validated as a whole rule by
`validate_rule` (services/alerts/correlation.py) and audited in its own transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from app.core.clock import utcnow
from app.core.ids import uuid_key
from app.errors import NotFound, ValidationFailed
from app.models import CorrelationRule, Impact, Severity, Tenant, Urgency
from app.services.access import audit
from app.services.alerts.correlation import DEFAULT_RULE, RULE_FIELDS, Rule, validate_rule

RULES_MAX = 200


@dataclass(frozen=True, slots=True)
class RuleView:
    id: str
    name: str
    position: int
    enabled: bool
    matchers: dict[str, Any]
    group_by: list[str]
    window_seconds: int
    auto_declare: bool
    min_alerts: int
    severity: Severity | None
    impact: Impact
    urgency: Urgency
    title_template: str | None
    created_at: datetime | None
    updated_at: datetime | None
    is_default: bool = False

    @classmethod
    def of(cls, row: CorrelationRule) -> RuleView:
        return cls(
            id=str(row.id),
            name=row.name,
            position=row.position,
            enabled=row.enabled,
            matchers=dict(row.matchers or {}),
            group_by=list(row.group_by or []),
            window_seconds=row.window_seconds,
            auto_declare=row.auto_declare,
            min_alerts=row.min_alerts,
            severity=Severity(row.severity) if row.severity else None,
            impact=Impact(row.impact),
            urgency=Urgency(row.urgency),
            title_template=row.title_template,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @classmethod
    def of_rule(cls, rule: Rule, *, applies: bool) -> RuleView:
        """A built-in rule (the default), which has no row; `enabled` says if it applies."""
        return cls(
            id=rule.id,
            name=rule.name,
            position=0,
            enabled=applies,
            matchers={k: list(v) for k, v in rule.matchers.items()},
            group_by=list(rule.group_by),
            window_seconds=rule.window_seconds,
            auto_declare=rule.auto_declare,
            min_alerts=rule.min_alerts,
            severity=rule.severity,
            impact=rule.impact,
            urgency=rule.urgency,
            title_template=rule.title_template,
            created_at=None,
            updated_at=None,
            is_default=True,
        )

    def audited(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "enabled": self.enabled,
            "matchers": self.matchers,
            "groupBy": self.group_by,
            "windowSeconds": self.window_seconds,
            "autoDeclare": self.auto_declare,
            "minAlerts": self.min_alerts,
            "severity": self.severity.value if self.severity else None,
            "impact": self.impact.value,
            "urgency": self.urgency.value,
            "titleTemplate": self.title_template,
        }


async def list_rules(*, tenant_id: str) -> list[RuleView]:
    rows = await CorrelationRule.filter(tenant_id=tenant_id).order_by("position", "created_at")
    return [RuleView.of(r) for r in rows]


async def default_rule(*, tenant_id: str) -> RuleView:
    """The built-in rule; it groups the tenant's alerts while none of its rules is enabled."""
    applies = not await CorrelationRule.exists(tenant_id=tenant_id, enabled=True)
    return RuleView.of_rule(DEFAULT_RULE, applies=applies)


async def create_rule(
    *,
    tenant_id: str,
    fields: Mapping[str, Any],
    enabled: bool = True,
    position: int | None = None,
) -> RuleView:
    """`fields` as validate_rule takes them; `position` from 1 (default: last)."""
    clean = validate_rule(**fields).columns()
    enabled = _flag(enabled)
    now = utcnow()
    async with in_transaction():
        rows = await _locked_rules(tenant_id)
        if len(rows) >= RULES_MAX:
            raise ValidationFailed(f"a tenant may have at most {RULES_MAX} rules", field="name")
        row = CorrelationRule(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            position=0,
            enabled=enabled,
            created_at=now,
            updated_at=now,
            **clean,
        )
        place = _place(position, len(rows) + 1)
        rows.insert(place - 1, row)
        await row.save()
        await _renumber(rows, moved=row)
        view = RuleView.of(row)
        await audit.record(
            tenant_id=tenant_id,
            action="correlation.rule_created",
            target=view.id,
            changes={"to": view.audited()},
        )
    return view


async def update_rule(
    *,
    tenant_id: str,
    rule_id: str,
    changes: Mapping[str, Any],
    enabled: bool | None = None,
    position: int | None = None,
) -> RuleView:
    """Change some fields (the rule is validated as it would be after the change), switch
    it on or off, or move it to `position` (from 1)."""
    key = _key(rule_id)
    now = utcnow()
    async with in_transaction():
        rows = await _locked_rules(tenant_id)
        row = next((r for r in rows if r.id == key), None)
        if row is None:
            raise NotFound(f"no correlation rule with id {rule_id!r}", field="id")
        before = RuleView.of(row)
        current = {name: getattr(row, name) for name in RULE_FIELDS}
        unknown = set(changes) - set(RULE_FIELDS)
        if unknown:
            raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}", field="id")
        clean = validate_rule(**{**current, **changes}).columns()
        for name, value in clean.items():
            setattr(row, name, value)
        if enabled is not None:
            row.enabled = _flag(enabled)
        if position is not None:
            rows.remove(row)
            rows.insert(_place(position, len(rows) + 1) - 1, row)
        row.updated_at = now
        await row.save()
        await _renumber(rows, moved=row)
        view = RuleView.of(row)
        await audit.record(
            tenant_id=tenant_id,
            action="correlation.rule_updated",
            target=view.id,
            changes={
                name: {"from": old, "to": new}
                for (name, old), new in zip(
                    before.audited().items(), view.audited().values(), strict=True
                )
                if old != new
            },
        )
    return view


async def delete_rule(*, tenant_id: str, rule_id: str) -> RuleView:
    key = _key(rule_id)
    async with in_transaction():
        rows = await _locked_rules(tenant_id)
        row = next((r for r in rows if r.id == key), None)
        if row is None:
            raise NotFound(f"no correlation rule with id {rule_id!r}", field="id")
        view = RuleView.of(row)
        await CorrelationRule.filter(id=row.id).delete()
        rows.remove(row)
        await _renumber(rows, moved=None)
        await audit.record(
            tenant_id=tenant_id,
            action="correlation.rule_deleted",
            target=view.id,
            changes={"from": view.audited()},
        )
    return view


async def _locked_rules(tenant_id: str) -> list[CorrelationRule]:
    """The tenant's rules in order, with the tenant row locked (PostgreSQL) so concurrent
    edits of one tenant's positions take turns."""
    await Tenant.select_for_update().filter(id=tenant_id).first()
    return list(
        await CorrelationRule.filter(tenant_id=tenant_id).order_by("position", "created_at")
    )


async def _renumber(rows: list[CorrelationRule], *, moved: CorrelationRule | None) -> None:
    for position, row in enumerate(rows, start=1):
        if row.position != position or row is moved:
            row.position = position
            await CorrelationRule.filter(id=row.id).update(position=position)


def _place(position: int | None, last: int) -> int:
    if position is None:
        return last
    if isinstance(position, bool) or not isinstance(position, int) or not 1 <= position <= last:
        raise ValidationFailed(f"position must be between 1 and {last}", field="position")
    return position


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed("enabled must be true or false", field="enabled")
    return value


def _key(value: str) -> uuid.UUID:
    return uuid_key(value, noun="correlation rule")
