"""A tenant's priority matrix and SLA targets.

Stored as JSON on the tenant row; missing keys fall back to the ITIL defaults below.

    {
      "matrix": {"HIGH": {"HIGH": "P1", "MEDIUM": "P2", "LOW": "P3"}, ...},   # impact -> urgency
      "severityFloor": {"SEV1": "P1", "SEV2": "P2", "SEV3": "P3"},            # severity can raise
      "sla": {"P1": {"responseMinutes": 15, "resolveMinutes": 240}, ...},
      "updateCadence": {"P1": 30, "P2": 60, "P3": 240, "P4": null, "P5": null},  # minutes
      "clearOverrideOnChange": false,
    }

A manual priority override stays through later changes of severity, impact or urgency
unless `clearOverrideOnChange` says such a change clears it.

The update cadence is how often stakeholders expect a public update on an active incident
of that priority (null: no expectation); the communications board lists the late ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from app.errors import ValidationFailed
from app.models import Impact, Priority, Severity, Urgency

DEFAULT_MATRIX: dict[Impact, dict[Urgency, Priority]] = {
    Impact.HIGH: {Urgency.HIGH: Priority.P1, Urgency.MEDIUM: Priority.P2, Urgency.LOW: Priority.P3},
    Impact.MEDIUM: {
        Urgency.HIGH: Priority.P2,
        Urgency.MEDIUM: Priority.P3,
        Urgency.LOW: Priority.P4,
    },
    Impact.LOW: {Urgency.HIGH: Priority.P3, Urgency.MEDIUM: Priority.P4, Urgency.LOW: Priority.P5},
}
DEFAULT_SEVERITY_FLOOR: dict[Severity, Priority] = {
    Severity.SEV1: Priority.P1,
    Severity.SEV2: Priority.P2,
    Severity.SEV3: Priority.P3,
}


@dataclass(frozen=True, slots=True)
class SlaTarget:
    response: timedelta
    resolve: timedelta


DEFAULT_SLA: dict[Priority, SlaTarget] = {
    Priority.P1: SlaTarget(timedelta(minutes=15), timedelta(hours=4)),
    Priority.P2: SlaTarget(timedelta(minutes=30), timedelta(hours=8)),
    Priority.P3: SlaTarget(timedelta(hours=2), timedelta(hours=24)),
    Priority.P4: SlaTarget(timedelta(hours=8), timedelta(hours=72)),
    Priority.P5: SlaTarget(timedelta(hours=24), timedelta(days=7)),
}


DEFAULT_UPDATE_CADENCE: dict[Priority, float | None] = {
    Priority.P1: 30.0,
    Priority.P2: 60.0,
    Priority.P3: 240.0,
    Priority.P4: None,
    Priority.P5: None,
}
_CADENCE_MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    matrix: Mapping[Impact, Mapping[Urgency, Priority]]
    severity_floor: Mapping[Severity, Priority]
    sla: Mapping[Priority, SlaTarget]
    update_cadence: Mapping[Priority, float | None] = field(
        default_factory=lambda: dict(DEFAULT_UPDATE_CADENCE)
    )
    clear_override_on_change: bool = False

    def cadence(self, priority: Priority) -> timedelta | None:
        """How often stakeholders expect a public update at this priority; None: never."""
        minutes = self.update_cadence.get(priority)
        return None if minutes is None else timedelta(minutes=minutes)

    def priority(self, *, severity: Severity, impact: Impact, urgency: Urgency) -> Priority:
        """The matrix value for impact x urgency, raised to the severity's floor."""
        base = self.matrix[impact][urgency]
        floor = self.severity_floor.get(severity)
        if floor is not None and floor < base:  # "P1" < "P2": lower string is more urgent
            return floor
        return base

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> TenantPolicy:
        raw = raw or {}
        try:
            matrix = {i: dict(row) for i, row in DEFAULT_MATRIX.items()}
            for impact, row in (raw.get("matrix") or {}).items():
                for urgency, priority in row.items():
                    matrix[Impact(impact)][Urgency(urgency)] = Priority(priority)
            floor = dict(DEFAULT_SEVERITY_FLOOR)
            if "severityFloor" in raw:
                floor = {Severity(s): Priority(p) for s, p in raw["severityFloor"].items() if p}
            sla = dict(DEFAULT_SLA)
            for priority, target in (raw.get("sla") or {}).items():
                sla[Priority(priority)] = SlaTarget(
                    timedelta(minutes=float(target["responseMinutes"])),
                    timedelta(minutes=float(target["resolveMinutes"])),
                )
            cadence = dict(DEFAULT_UPDATE_CADENCE)
            for priority, minutes in (raw.get("updateCadence") or {}).items():
                cadence[Priority(priority)] = None if minutes is None else float(minutes)
            clear_override = bool(raw.get("clearOverrideOnChange", False))
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ValidationFailed(f"invalid tenant policy: {exc}", field="policy") from exc
        for priority, target in sla.items():
            if target.response <= timedelta(0) or target.resolve <= timedelta(0):
                raise ValidationFailed(f"SLA targets for {priority} must be positive", field="sla")
        for priority, minutes in cadence.items():
            if minutes is not None and not 0 < minutes <= _CADENCE_MAX_MINUTES:
                raise ValidationFailed(
                    f"the update cadence for {priority} must be positive and at most "
                    f"{_CADENCE_MAX_MINUTES} minutes, or null for none",
                    field="updateCadence",
                )
        return cls(
            matrix=matrix,
            severity_floor=floor,
            sla=sla,
            update_cadence=cadence,
            clear_override_on_change=clear_override,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "matrix": {
                i.value: {u.value: p.value for u, p in row.items()}
                for i, row in self.matrix.items()
            },
            "severityFloor": {s.value: p.value for s, p in self.severity_floor.items()},
            "sla": {
                p.value: {
                    "responseMinutes": t.response.total_seconds() / 60,
                    "resolveMinutes": t.resolve.total_seconds() / 60,
                }
                for p, t in self.sla.items()
            },
            "updateCadence": {p.value: m for p, m in self.update_cadence.items()},
            "clearOverrideOnChange": self.clear_override_on_change,
        }


DEFAULT_POLICY = TenantPolicy(
    matrix=DEFAULT_MATRIX, severity_floor=DEFAULT_SEVERITY_FLOOR, sla=DEFAULT_SLA
)
