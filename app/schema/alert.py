"""Alerts, their connection and filter, linking inputs, and the correlation rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app import models
from app.core.pagination import page_size
from app.errors import DomainError
from app.schema.authorization import read_alerts
from app.schema.common import (
    COMBINATOR_FIELDS,
    Node,
    PageInfo,
    TimeRange,
    UserError,
    time_range,
    to_global_id,
)
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.schema.incident import Impact, Incident, Severity, Urgency
from app.schema.loaders import Loaders
from app.services import filtering
from app.services.access.classification import (
    ALERT_TEXT_FIELDS,
    REDACTED,
    api_name,
    reaches,
    redact_json,
    redact_text,
)
from app.services.alerts import queries as alert_queries
from app.services.alerts.quarantine import QuarantinedView
from app.services.alerts.queries import AlertFilter as DomainAlertFilter
from app.services.alerts.queries import AlertView
from app.services.alerts.rules import RuleView

ALERT_PREFIX = "alr_"
RULE_PREFIX = "crl_"

AlertStatus: TypeAlias = Annotated[
    models.AlertStatus,
    strawberry.enum(description="FIRING until its sender says it is resolved."),
]


@strawberry.type(
    description="One alert over its lifetime: repeats while it fires are counted, not stored "
    "again. As visible as its incident; INTERNAL data, or as classified as its incident when "
    "that is higher: below that clearance its text (title, description, alertname, labels, "
    "annotations, url) reads [REDACTED], as the incident's does."
)
class Alert(Node):
    id: strawberry.ID
    source: str = strawberry.field(description='Who sent it: "alertmanager" or a generic source.')
    fingerprint: str = strawberry.field(description="Its identity at the source.")
    status: AlertStatus
    alertname: str | None
    service: str | None
    severity: str | None = strawberry.field(description="The sender's severity label, as sent.")
    title: str
    description: str | None
    labels: JSON
    annotations: JSON
    url: str | None
    starts_at: datetime
    ends_at: datetime | None
    first_received_at: datetime
    last_received_at: datetime
    count: int = strawberry.field(description="Notifications received for it (1 + repeats).")
    redacted_fields: list[str] = strawberry.field(
        description="The fields redacted for the caller (its incident's classification is "
        "above the caller's clearance)."
    )
    view: strawberry.Private[AlertView]
    clearance: strawberry.Private[models.Classification]
    loaders: strawberry.Private[Loaders | None]

    @strawberry.field(description="The incident it is linked to, if any.")  # type: ignore[untyped-decorator]
    async def incident(self, info: Info[Context, Any]) -> Incident | None:
        if self.view.incident_id is None:
            return None
        loaders = self.loaders or info.context.loaders
        snapshot = await loaders.incident.load(self.view.incident_id)
        if snapshot is None:
            return None
        if snapshot.classification is models.Classification.RESTRICTED:
            # Answered only once recorded; the request's alerts share one audit write.
            info.context.mark_uncacheable()
            await info.context.loaders.alert_incident_read.load(snapshot.id)
        return Incident.of(snapshot, clearance=self.clearance, loaders=self.loaders)

    @classmethod
    def of(
        cls, view: AlertView, *, clearance: models.Classification, loaders: Loaders | None = None
    ) -> Alert:
        """The alert as a caller with `clearance` may see it."""
        hidden = [] if reaches(clearance, view.classification) else list(ALERT_TEXT_FIELDS)
        return cls(
            id=strawberry.ID(to_global_id(ALERT_PREFIX, view.id)),
            source=view.source,
            fingerprint=view.fingerprint,
            status=view.status,
            alertname=redact_text(view.alertname) if hidden else view.alertname,
            service=view.service,
            severity=view.severity,
            title=REDACTED if hidden else view.title,
            description=redact_text(view.description) if hidden else view.description,
            labels=JSON(redact_json(view.labels) if hidden else view.labels),
            annotations=JSON(redact_json(view.annotations) if hidden else view.annotations),
            url=redact_text(view.url) if hidden else view.url,
            starts_at=view.starts_at,
            ends_at=view.ends_at,
            first_received_at=view.first_received_at,
            last_received_at=view.last_received_at,
            count=view.count,
            redacted_fields=[api_name(name) for name in hidden],
            view=view,
            clearance=clearance,
            loaders=loaders,
        )


@strawberry.type
class AlertEdge:
    cursor: str
    node: Alert


@strawberry.type
class AlertConnection:
    edges: list[AlertEdge]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many alerts match, across all pages.")  # type: ignore[untyped-decorator]
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.input
class AlertFilter:
    """Which alerts: every field given must hold; `and`, `or` and `not` combine whole
    filters (at most 5 levels deep and 50 filters in all)."""

    status: list[AlertStatus] | None = None
    source: list[str] | None = None
    service: list[str] | None = None
    incident_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the alerts linked to this incident."
    )
    linked: bool | None = strawberry.field(
        default=None, description="true: linked to an incident; false: not linked."
    )
    text: str | None = strawberry.field(
        default=None, description="Case-insensitive, in title, alertname or description."
    )

    received: TimeRange | None = strawberry.field(
        default=None, description="Last received in this range."
    )
    and_: list[AlertFilter] | None = strawberry.field(
        default=None, name="and", description=COMBINATOR_FIELDS["and"]
    )
    or_: list[AlertFilter] | None = strawberry.field(
        default=None, name="or", description=COMBINATOR_FIELDS["or"]
    )
    not_: AlertFilter | None = strawberry.field(
        default=None, name="not", description=COMBINATOR_FIELDS["not"]
    )

    def to_domain(
        self, incident_key: Callable[[str], str], *, checked: bool = False
    ) -> DomainAlertFilter:
        """The domain filter; `incident_key` reads an incident id."""
        if not checked:
            filtering.check_shape(self)
        return DomainAlertFilter(
            status=frozenset(self.status) if self.status is not None else None,
            source=frozenset(self.source) if self.source is not None else None,
            service=frozenset(self.service) if self.service is not None else None,
            incident_id=incident_key(self.incident_id) if self.incident_id is not None else None,
            linked=self.linked,
            text=self.text or None,
            received=time_range(self.received, "filter.received"),
            and_=tuple(f.to_domain(incident_key, checked=True) for f in self.and_ or ()),
            or_=tuple(f.to_domain(incident_key, checked=True) for f in self.or_ or ()),
            not_=(
                self.not_.to_domain(incident_key, checked=True) if self.not_ is not None else None
            ),
        )


@strawberry.input
class LinkAlertInput:
    alert_id: strawberry.ID
    incident_id: strawberry.ID


@strawberry.input
class UnlinkAlertInput:
    alert_id: strawberry.ID


@strawberry.type
class AlertPayload:
    alert: Alert | None
    incident: Incident | None = strawberry.field(
        description="The incident the alert was linked to, or left."
    )
    errors: list[UserError]


# --- the intake's quarantine -----------------------------------------------------------------

QUARANTINE_PREFIX = "aqr_"


@strawberry.type(
    description="An accepted alert the processor could not store, set aside so that it holds "
    "up no other; with the error that stopped it."
)
class QuarantinedAlert:
    id: strawberry.ID
    source: str | None = strawberry.field(description="The payload's source, when it has one.")
    fingerprint: str | None = strawberry.field(description="The payload's fingerprint, if any.")
    error: str = strawberry.field(description="Why it could not be stored.")
    payload: JSON = strawberry.field(description="The alert as accepted (normalised).")
    received_at: datetime
    quarantined_at: datetime

    @classmethod
    def of(cls, view: QuarantinedView) -> QuarantinedAlert:
        return cls(
            id=strawberry.ID(f"{QUARANTINE_PREFIX}{view.id}"),
            source=view.source,
            fingerprint=view.fingerprint,
            error=view.error,
            payload=JSON(view.payload),
            received_at=view.received_at,
            quarantined_at=view.quarantined_at,
        )


@strawberry.type
class QuarantinedAlertEdge:
    cursor: str
    node: QuarantinedAlert


@strawberry.type
class QuarantinedAlertConnection:
    edges: list[QuarantinedAlertEdge]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many rows are quarantined, across all pages.")  # type: ignore[untyped-decorator]
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.input
class RetryQuarantinedAlertsInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="Quarantined alerts (`QuarantinedAlert.id`), at most 500."
    )


@strawberry.input
class DiscardQuarantinedAlertsInput:
    ids: list[strawberry.ID] = strawberry.field(
        description="Quarantined alerts (`QuarantinedAlert.id`), at most 500."
    )


@strawberry.type
class QuarantinedAlertsPayload:
    count: int = strawberry.field(description="How many quarantined alerts this took.")
    errors: list[UserError]


def quarantine_key(value: str) -> int | None:
    """The row number inside a quarantined alert's id, or None when it is not one."""
    number = value[len(QUARANTINE_PREFIX) :]
    if not value.startswith(QUARANTINE_PREFIX) or not number.isascii() or not number.isdigit():
        return None
    return int(number) if len(number) <= 18 else None


# --- correlation rules ----------------------------------------------------------------------


@strawberry.type(
    description="How alerts group into incidents: the first enabled rule (by position) whose "
    "matchers all equal an alert's labels groups it by the values of groupBy within the "
    "window, and declares an incident when autoDeclare and minAlerts say so."
)
class CorrelationRule:
    id: strawberry.ID
    name: str
    position: int = strawberry.field(description="Where it is tried, from 1 (0: the default).")
    enabled: bool = strawberry.field(
        description="Disabled rules are skipped. For the default rule: whether it applies now."
    )
    matchers: JSON = strawberry.field(
        description='Label name to a value or a list of values (any of), e.g. {"service": '
        '"api", "severity": ["critical", "error"]}; alertname, service, severity and source '
        "are labels too. Empty matches every alert."
    )
    group_by: list[str] = strawberry.field(
        description="Labels whose values make the group key, e.g. [service, alertname]."
    )
    window_seconds: int = strawberry.field(
        description="A group stays open while its last alert is this recent and its incident "
        "is not resolved, closed or cancelled."
    )
    auto_declare: bool
    min_alerts: int = strawberry.field(
        description="Alerts in one open group that declare an incident."
    )
    severity: Severity | None = strawberry.field(
        description="Of the declared incident; null: from the alert's severity label "
        "(critical SEV2; error, high, major SEV3; warning, info SEV4; otherwise SEV3)."
    )
    impact: Impact
    urgency: Urgency
    title_template: str | None = strawberry.field(
        description="{alertname}, {service}, {severity}, {source}, {title} and {labels.NAME} "
        'are filled in; null: "{alertname} on {service}".'
    )
    is_default: bool = strawberry.field(
        description="The built-in rule, used while the tenant has no enabled rule."
    )
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, view: RuleView) -> CorrelationRule:
        return cls(
            id=strawberry.ID(view.id if view.is_default else to_global_id(RULE_PREFIX, view.id)),
            name=view.name,
            position=view.position,
            enabled=view.enabled,
            matchers=JSON(view.matchers),
            group_by=view.group_by,
            window_seconds=view.window_seconds,
            auto_declare=view.auto_declare,
            min_alerts=view.min_alerts,
            severity=view.severity,
            impact=view.impact,
            urgency=view.urgency,
            title_template=view.title_template,
            is_default=view.is_default,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


@strawberry.input
class CreateCorrelationRuleInput:
    name: str
    group_by: list[str]
    window_seconds: int
    matchers: JSON | None = None
    auto_declare: bool = True
    min_alerts: int = 1
    severity: Severity | None = None
    impact: Impact = models.Impact.MEDIUM
    urgency: Urgency = models.Urgency.MEDIUM
    title_template: str | None = None
    enabled: bool = True
    position: int | None = strawberry.field(
        default=None, description="From 1; the rules from there on move down. Default: last."
    )


@strawberry.input(
    description="Only the fields given change; null clears matchers, severity and titleTemplate."
)
class UpdateCorrelationRuleInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    matchers: JSON | None = strawberry.UNSET
    group_by: list[str] | None = strawberry.UNSET
    window_seconds: int | None = strawberry.UNSET
    auto_declare: bool | None = strawberry.UNSET
    min_alerts: int | None = strawberry.UNSET
    severity: Severity | None = strawberry.UNSET
    impact: Impact | None = strawberry.UNSET
    urgency: Urgency | None = strawberry.UNSET
    title_template: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    position: int | None = strawberry.field(
        default=strawberry.UNSET, description="Move the rule to this place, from 1."
    )


@strawberry.input
class DeleteCorrelationRuleInput:
    id: strawberry.ID


@strawberry.type
class CorrelationRulePayload:
    rule: CorrelationRule | None
    errors: list[UserError]


async def incident_alerts(
    info: Info[Context, Any],
    incident_id: str,
    *,
    loaders: Loaders | None,
    first: int | None,
    after: str | None,
) -> AlertConnection:
    """Incident.alerts: every listed incident's page comes from one query, and their counts
    (when asked for) from one more, whatever the number of incidents."""
    principal = read_alerts(info)
    loaders = loaders or info.context.loaders
    try:
        size = page_size(first)
        cursor = alert_queries.decode_cursor(after) if after is not None else None
    except DomainError as error:
        raise graphql_error(error) from None
    page = await loaders.incident_alert_page.load(
        alert_queries.IncidentPageKey(incident_id, size, cursor)
    )
    views = await loaders.alert.load_many(page.alert_ids)
    edges = [
        AlertEdge(
            cursor=alert_queries.encode_cursor(view),
            node=Alert.of(view, clearance=principal.clearance, loaders=loaders),
        )
        for view in views
        if view is not None
    ]

    async def count() -> int:
        return await loaders.incident_alert_count.load(incident_id)

    return AlertConnection(
        edges=edges,
        page_info=PageInfo.of(
            [e.cursor for e in edges], has_next=page.has_next_page, has_previous=after is not None
        ),
        counter=count,
    )
