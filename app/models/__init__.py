"""Tortoise models, one module per aggregate. Every table carries its tenant."""

from app.models.audit import AuditRecord
from app.models.classification import Classification
from app.models.incident import Impact, Incident, IncidentStatus, Priority, Severity, Urgency
from app.models.outbox import OutboxMessage
from app.models.tenant import Tenant
from app.models.timeline import NoteKind, TimelineEvent
from app.models.token import ApiToken, Role

__all__ = [
    "ApiToken",
    "AuditRecord",
    "Classification",
    "Impact",
    "Incident",
    "IncidentStatus",
    "NoteKind",
    "OutboxMessage",
    "Priority",
    "Role",
    "Severity",
    "Tenant",
    "TimelineEvent",
    "Urgency",
]
