"""A tenant's priority matrix and SLA targets.

Stored as JSON on the tenant row; missing keys fall back to the ITIL defaults below.

    {
      "matrix": {"HIGH": {"HIGH": "P1", "MEDIUM": "P2", "LOW": "P3"}, ...},   # impact -> urgency
      "severityFloor": {"SEV1": "P1", "SEV2": "P2", "SEV3": "P3"},            # severity can raise
      "sla": {"P1": {"responseMinutes": 15, "resolveMinutes": 240}, ...}
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    matrix: Mapping[Impact, Mapping[Urgency, Priority]]
    severity_floor: Mapping[Severity, Priority]
    sla: Mapping[Priority, SlaTarget]

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
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise ValidationFailed(f"invalid tenant policy: {exc}", field="policy") from exc
        for priority, target in sla.items():
            if target.response <= timedelta(0) or target.resolve <= timedelta(0):
                raise ValidationFailed(f"SLA targets for {priority} must be positive", field="sla")
        return cls(matrix=matrix, severity_floor=floor, sla=sla)

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
        }


DEFAULT_POLICY = TenantPolicy(
    matrix=DEFAULT_MATRIX, severity_floor=DEFAULT_SEVERITY_FLOOR, sla=DEFAULT_SLA
)
