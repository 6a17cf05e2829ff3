"""Tortoise models, one module per aggregate. Every table carries its tenant."""

from app.models.alert import (
    Alert,
    AlertGroup,
    AlertIntake,
    AlertQuarantine,
    AlertStatus,
    CorrelationRule,
    Lease,
)
from app.models.audit import AuditRecord
from app.models.catalog import IncidentService, Service, ServiceDependency, ServiceTier
from app.models.change import (
    Change,
    ChangeLink,
    ChangeRelation,
    ChangeService,
    ChangeStatus,
    ChangeType,
    Risk,
)
from app.models.classification import Classification
from app.models.incident import Impact, Incident, IncidentStatus, Priority, Severity, Urgency
from app.models.itsm import (
    InboundDelivery,
    ItsmConnection,
    ItsmProvider,
    LinkedTicket,
    SyncJob,
    SyncJobKind,
    SyncState,
)
from app.models.knowledge import (
    ArticleKind,
    ArticleLink,
    ArticleStatus,
    ArticleVersion,
    KnowledgeArticle,
)
from app.models.outbox import OutboxMessage
from app.models.people import (
    EscalationTier,
    Mention,
    Rotation,
    RotationOverride,
    Team,
    TeamMember,
    TeamRole,
    User,
    UserIdentity,
)
from app.models.problem import (
    Problem,
    ProblemIncident,
    ProblemService,
    ProblemStatus,
    RecordEvent,
)
from app.models.response import (
    IncidentRole,
    RoleAssignment,
    Task,
    TaskDependency,
    TaskStatus,
)
from app.models.tenant import Tenant
from app.models.timeline import NoteKind, TimelineEvent
from app.models.token import ApiToken, Role

__all__ = [
    "Alert",
    "AlertGroup",
    "AlertIntake",
    "AlertQuarantine",
    "AlertStatus",
    "CorrelationRule",
    "Lease",
    "ApiToken",
    "ArticleKind",
    "ArticleLink",
    "ArticleStatus",
    "ArticleVersion",
    "AuditRecord",
    "KnowledgeArticle",
    "IncidentService",
    "Service",
    "ServiceDependency",
    "ServiceTier",
    "Change",
    "ChangeLink",
    "ChangeRelation",
    "ChangeService",
    "ChangeStatus",
    "ChangeType",
    "Classification",
    "Risk",
    "Impact",
    "InboundDelivery",
    "Incident",
    "IncidentStatus",
    "ItsmConnection",
    "ItsmProvider",
    "LinkedTicket",
    "NoteKind",
    "OutboxMessage",
    "Priority",
    "Problem",
    "ProblemIncident",
    "ProblemService",
    "ProblemStatus",
    "RecordEvent",
    "Role",
    "Severity",
    "SyncJob",
    "SyncJobKind",
    "SyncState",
    "Tenant",
    "IncidentRole",
    "RoleAssignment",
    "Task",
    "TaskDependency",
    "TaskStatus",
    "TimelineEvent",
    "Urgency",
    "EscalationTier",
    "Team",
    "TeamMember",
    "TeamRole",
    "User",
    "UserIdentity",
    "Mention",
    "Rotation",
    "RotationOverride",
]
