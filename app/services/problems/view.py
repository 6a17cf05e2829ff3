"""A problem as the services hand it out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.models import Classification, Problem, ProblemStatus


@dataclass(frozen=True, slots=True)
class ProblemView:
    id: str
    tenant_id: str
    number: int
    title: str
    description: str | None
    status: ProblemStatus
    known_error: bool
    workaround: str | None
    root_cause: str | None
    resolution_evidence: str | None
    classification: Classification
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    last_incident_at: datetime | None
    version: int

    @property
    def reference(self) -> str:
        return f"PRB-{self.number}"

    @classmethod
    def of(cls, row: Problem) -> ProblemView:
        return cls(
            id=str(row.id),
            tenant_id=row.tenant_id,
            number=row.number,
            title=row.title,
            description=row.description,
            status=row.status,
            known_error=row.known_error,
            workaround=row.workaround,
            root_cause=row.root_cause,
            resolution_evidence=row.resolution_evidence,
            classification=row.classification,
            created_by=row.created_by,
            created_at=row.created_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            last_incident_at=row.last_incident_at,
            version=row.version,
        )
