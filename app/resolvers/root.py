"""The GraphQL schema's root: Query, Mutation and Subscription assembled from the domain
resolvers, and the Schema with its guards (limits, cost, caches, error codes)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.schema.config import StrawberryConfig

from app.resolvers import alert as alert_resolvers
from app.resolvers import audit as audit_resolvers
from app.resolvers import board as board_resolvers
from app.resolvers import catalog as catalog_resolvers
from app.resolvers import change as change_resolvers
from app.resolvers import comms as comms_resolvers
from app.resolvers import exports as export_resolvers
from app.resolvers import feed as feed_resolvers
from app.resolvers import incident as incident_resolvers
from app.resolvers import itsm as itsm_resolvers
from app.resolvers import knowledge as knowledge_resolvers
from app.resolvers import metrics as metrics_resolvers
from app.resolvers import node as node_resolvers
from app.resolvers import notifications as notification_resolvers
from app.resolvers import oncall as oncall_resolvers
from app.resolvers import people as people_resolvers
from app.resolvers import problem as problem_resolvers
from app.resolvers import records as record_resolvers
from app.resolvers import response as response_resolvers
from app.resolvers import tenant as tenant_resolvers
from app.resolvers import timeline as timeline_resolvers
from app.resolvers import token as token_resolvers
from app.resolvers import webhooks as webhook_resolvers
from app.resolvers.records import Record
from app.schema.alert import (
    Alert,
    AlertConnection,
    AlertPayload,
    CorrelationRule,
    CorrelationRulePayload,
    QuarantinedAlertConnection,
    QuarantinedAlertsPayload,
)
from app.schema.audit import AuditRecordConnection
from app.schema.board import StatusBoard
from app.schema.catalog import ServiceConnection, ServicePayload
from app.schema.change import ChangeConnection, ChangePayload
from app.schema.common import Node
from app.schema.comms import (
    ActionItemPayload,
    Communication,
    CommunicationPayload,
    ReviewPayload,
)
from app.schema.cost import CostLimit, QueryCost
from app.schema.downloads import ExportLink
from app.schema.errors import CachedParser, CachedValidation, ErrorCodes, Schema
from app.schema.execution import SharedEventExecutionContext
from app.schema.feed import FeedEvent, FeedEventConnection
from app.schema.incident import Incident, IncidentConnection
from app.schema.incident_commands import IncidentPayload, MergeIncidentsPayload
from app.schema.itsm import ExternalTicketPayload, ItsmConnection, ItsmConnectionPayload
from app.schema.knowledge import ArticlePayload, KnowledgeArticleConnection
from app.schema.metrics import IncidentMetrics
from app.schema.notifications import (
    NotificationPreferences,
    NotificationPreferencesPayload,
    NotificationRule,
    NotificationRulePayload,
    NotificationSettings,
    NotificationSettingsPayload,
    Placeholder,
    SendCommunicationPayload,
)
from app.schema.observed import Observed
from app.schema.oncall import OnCallShift, OverridePayload, RotationPayload
from app.schema.people import (
    Team,
    TeamConnection,
    TeamPayload,
    User,
    UserConnection,
    UserPayload,
)
from app.schema.problem import CreateProblemPayload, ProblemConnection, ProblemPayload
from app.schema.push import PushSizeLimit
from app.schema.response import (
    EscalationPath,
    EscalationPolicyPayload,
    PlaybookConnection,
    PlaybookPayload,
    TaskPayload,
)
from app.schema.tenant import (
    LegalHoldPayload,
    Tenant,
    TenantPolicy,
    TenantPolicyPayload,
    TenantRetentionPayload,
)
from app.schema.timeline import TimelineEvent, TimelineEventPayload
from app.schema.token import ApiTokenConnection, CreateApiTokenPayload, RevokeApiTokenPayload
from app.schema.webhook import (
    WebhookDeliveryConnection,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)
from app.services.response.tasks import TASKS_MAX

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000

# The limiters' rule classes, built once: ValidationCache keys on the rules, and a limiter
# built per request makes new classes each time, so every request would miss the cache.
_LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


@strawberry.type
class Query:
    node: Node | None = strawberry.field(resolver=node_resolvers.node)
    incident: Incident | None = strawberry.field(resolver=incident_resolvers.incident)
    incidents: IncidentConnection = strawberry.field(resolver=incident_resolvers.incidents)
    export_incidents: ExportLink = strawberry.field(
        resolver=export_resolvers.export_incidents,
        description="Where to download the incidents you may see that `filter` selects, by "
        "number, as CSV or NDJSON (streamed, redacted for you, audited).",
    )
    export_timeline: ExportLink = strawberry.field(
        resolver=export_resolvers.export_timeline,
        description="Where to download an incident's timeline as NDJSON CloudEvents.",
    )
    events: FeedEventConnection = strawberry.field(
        resolver=feed_resolvers.events,
        description="The tenant's events (incidents, problems, changes, articles, services, "
        'and what happens on them) in commit order, after a cursor (`after: "0"` or none: '
        "from the start). Events of what you may not see are left out.",
    )
    status_board: StatusBoard = strawberry.field(
        resolver=board_resolvers.status_board,
        description="The tenant's status board for a persona, built from what the caller may "
        "see (CUSTOMER: only what is public).",
    )
    tenant: Tenant = strawberry.field(
        resolver=tenant_resolvers.tenant,
        description="The tenant you act in: its plan, its limits and what it holds now.",
    )
    tenant_policy: TenantPolicy = strawberry.field(
        resolver=tenant_resolvers.tenant_policy,
        description="This tenant's priority matrix, severity floors and SLA targets.",
    )
    api_tokens: ApiTokenConnection = strawberry.field(
        resolver=token_resolvers.api_tokens,
        description="This tenant's API tokens, revoked ones included, oldest first. ADMIN only.",
    )
    audit_log: AuditRecordConnection = strawberry.field(
        resolver=audit_resolvers.audit_log,
        description="Every change, token event and restricted read, newest first. ADMIN only.",
    )
    itsm_connections: list[ItsmConnection] = strawberry.field(
        resolver=itsm_resolvers.itsm_connections,
        description="This tenant's ServiceNow and Jira connections, secrets never shown. "
        "ADMIN only.",
    )
    alerts: AlertConnection = strawberry.field(
        resolver=alert_resolvers.alerts,
        description="Stored alerts, newest first (by the last notification received). An "
        "alert linked to an incident the caller may not see is left out.",
    )
    correlation_rules: list[CorrelationRule] = strawberry.field(
        resolver=alert_resolvers.correlation_rules,
        description="This tenant's correlation rules by position. While none is enabled (none "
        "exists, say) the built-in defaultCorrelationRule groups every alert. ADMIN only.",
    )
    alert_quarantine: QuarantinedAlertConnection = strawberry.field(
        resolver=alert_resolvers.alert_quarantine,
        description="Accepted alerts the processor could not store, newest first, each with "
        "the error that stopped it; set aside so that they hold up no other alert. ADMIN only.",
    )
    me: User | None = strawberry.field(
        resolver=people_resolvers.me,
        description="The user your token or sign-in acts as; null for a service token.",
    )
    users: UserConnection = strawberry.field(
        resolver=people_resolvers.users,
        description="This tenant's users by handle, deactivated ones included unless filtered.",
    )
    teams: TeamConnection = strawberry.field(
        resolver=people_resolvers.teams, description="This tenant's teams by name."
    )
    knowledge_articles: KnowledgeArticleConnection = strawberry.field(
        resolver=knowledge_resolvers.knowledge_articles,
        description="Knowledge articles you may see. With filter.text: a ranked full-text "
        "search of published articles, with highlights; without: newest first.",
    )
    changes: ChangeConnection = strawberry.field(
        resolver=change_resolvers.changes, description="Changes you may see, newest first."
    )
    problems: ProblemConnection = strawberry.field(
        resolver=problem_resolvers.problems,
        description="Problems you may see, newest first.",
    )
    services: ServiceConnection = strawberry.field(
        resolver=catalog_resolvers.services,
        description="This tenant's service catalog by name.",
    )
    escalation_policy: list[EscalationPath] = strawberry.field(
        resolver=response_resolvers.escalation_policy,
        description="The tenant's escalation path of each priority.",
    )
    incident_metrics: IncidentMetrics = strawberry.field(
        resolver=metrics_resolvers.incident_metrics,
        description="Counts, MTTA, MTTR (mean, p50, p90), SLA compliance and the rates of "
        "escalation, reopening, known-error reuse, change success and review completion, for "
        "the incidents declared in [from, to) that you may see and `filter` selects; overall "
        "and by `groupBy`. At most three years.",
    )
    webhook_endpoints: list[WebhookEndpoint] = strawberry.field(
        resolver=webhook_resolvers.webhook_endpoints,
        description="The tenant's outbound webhook endpoints, oldest first (ADMIN).",
    )
    webhook_deliveries: WebhookDeliveryConnection = strawberry.field(
        resolver=webhook_resolvers.webhook_deliveries,
        description="An endpoint's deliveries, newest first, with status codes and timings of "
        "each attempt (ADMIN).",
    )
    notification_rules: list[NotificationRule] = strawberry.field(
        resolver=notification_resolvers.notification_rules,
        description="The tenant's notification rules by name (ADMIN).",
    )
    notification_placeholders: list[Placeholder] = strawberry.field(
        resolver=notification_resolvers.notification_placeholders,
        description="The names a notification rule's templates may use, in braces.",
    )
    my_notification_preferences: NotificationPreferences = strawberry.field(
        resolver=notification_resolvers.my_notification_preferences,
        description="How you are notified (a person's token).",
    )
    notification_settings: NotificationSettings = strawberry.field(
        resolver=notification_resolvers.notification_settings,
        description="Where the tenant's outbound messages go (ADMIN).",
    )
    communication_by_ref: Communication | None = strawberry.field(
        resolver=comms_resolvers.communication_by_ref,
        description="The communication a short ref (REF-YYYYMMDD-XXXX, any case) names; null "
        "when there is none you may see.",
    )
    playbooks: PlaybookConnection = strawberry.field(
        resolver=response_resolvers.playbooks,
        description="This tenant's playbooks by name.",
    )
    who_is_on_call: list[OnCallShift] = strawberry.field(
        resolver=oncall_resolvers.who_is_on_call,
        description="Who holds each rotation of these teams (every team when left out) at "
        "`at` (default: now), with when their turn began and ends.",
    )
    default_correlation_rule: CorrelationRule = strawberry.field(
        resolver=alert_resolvers.default_correlation_rule,
        description="The built-in rule: one group per service and alertname for an hour, "
        "declaring at the first alert. Its `enabled` says whether it applies now. ADMIN only.",
    )


@strawberry.type
class Mutation:
    declare_incident: IncidentPayload = strawberry.mutation(
        resolver=incident_resolvers.declare_incident
    )
    update_incident: IncidentPayload = strawberry.mutation(
        resolver=incident_resolvers.update_incident
    )
    transition_incident: IncidentPayload = strawberry.mutation(
        resolver=incident_resolvers.transition_incident
    )
    assign_incident: IncidentPayload = strawberry.mutation(
        resolver=incident_resolvers.assign_incident
    )
    add_note: TimelineEventPayload = strawberry.mutation(resolver=timeline_resolvers.add_note)
    update_tenant_policy: TenantPolicyPayload = strawberry.mutation(
        resolver=tenant_resolvers.update_tenant_policy
    )
    create_api_token: CreateApiTokenPayload = strawberry.mutation(
        resolver=token_resolvers.create_api_token,
        description="A new token for this tenant; its secret is in the payload, once. ADMIN only.",
    )
    revoke_api_token: RevokeApiTokenPayload = strawberry.mutation(
        resolver=token_resolvers.revoke_api_token,
        description="The token stops authenticating; its open subscriptions close. ADMIN only.",
    )
    configure_itsm_connection: ItsmConnectionPayload = strawberry.mutation(
        resolver=itsm_resolvers.configure_itsm_connection,
        description="Connect this tenant to ServiceNow or Jira, or change the connection. "
        "ADMIN only.",
    )
    link_ticket: ExternalTicketPayload = strawberry.mutation(
        resolver=itsm_resolvers.link_ticket,
        description="Link an existing ticket to the incident and keep the two in step.",
    )
    create_ticket: ExternalTicketPayload = strawberry.mutation(
        resolver=itsm_resolvers.create_ticket,
        description="Create a ticket in the provider from the incident (once, however often "
        "the delivery is retried) and link it.",
    )
    unlink_ticket: ExternalTicketPayload = strawberry.mutation(
        resolver=itsm_resolvers.unlink_ticket,
        description="Stop syncing a ticket; the ticket itself stays in the provider.",
    )
    sync_ticket: ExternalTicketPayload = strawberry.mutation(
        resolver=itsm_resolvers.sync_ticket,
        description="Compare the ticket with the incident now; retries a ticket in ERROR.",
    )
    resolve_ticket_conflict: ExternalTicketPayload = strawberry.mutation(
        resolver=itsm_resolvers.resolve_ticket_conflict,
        description="Settle a field's conflict: INTERNAL sends the incident's value to the "
        "ticket, EXTERNAL applies the ticket's (through the lifecycle).",
    )

    merge_incidents: MergeIncidentsPayload = strawberry.mutation(
        resolver=incident_resolvers.merge_incidents,
        description="The target takes the source's alerts, alert groups, linked tickets and "
        "timeline (copied in order, marked as merged); the source becomes CANCELLED with "
        "mergedInto set. Both get a merged event.",
    )
    link_alert: AlertPayload = strawberry.mutation(
        resolver=alert_resolvers.link_alert,
        description="Link an unlinked alert to an incident; its group too when the group has "
        "no incident yet, so the group's later alerts follow.",
    )
    unlink_alert: AlertPayload = strawberry.mutation(
        resolver=alert_resolvers.unlink_alert,
        description="Take an alert off its incident.",
    )
    create_correlation_rule: CorrelationRulePayload = strawberry.mutation(
        resolver=alert_resolvers.create_correlation_rule,
        description="A new correlation rule, last unless a position is given. ADMIN only.",
    )
    update_correlation_rule: CorrelationRulePayload = strawberry.mutation(
        resolver=alert_resolvers.update_correlation_rule,
        description="Change the fields given, switch the rule on or off, or move it to a "
        "position. ADMIN only.",
    )
    delete_correlation_rule: CorrelationRulePayload = strawberry.mutation(
        resolver=alert_resolvers.delete_correlation_rule,
        description="Delete a rule; the ones after it move up. ADMIN only.",
    )
    create_user: UserPayload = strawberry.mutation(
        resolver=people_resolvers.create_user,
        description="A new user; handle and e-mail are unique in the tenant. ADMIN only.",
    )
    update_user: UserPayload = strawberry.mutation(
        resolver=people_resolvers.update_user,
        description="Change the fields given. ADMIN only.",
    )
    deactivate_user: UserPayload = strawberry.mutation(
        resolver=people_resolvers.deactivate_user,
        description="The user stays on every record they appear in, no longer active. ADMIN only.",
    )
    create_team: TeamPayload = strawberry.mutation(
        resolver=people_resolvers.create_team,
        description="A new team; its name is unique in the tenant. ADMIN only.",
    )
    update_team: TeamPayload = strawberry.mutation(
        resolver=people_resolvers.update_team,
        description="Rename a team or change its escalation tier. ADMIN only.",
    )
    add_team_member: TeamPayload = strawberry.mutation(
        resolver=people_resolvers.add_team_member,
        description="Add an active user to a team, or change their role in it. ADMIN only.",
    )
    remove_team_member: TeamPayload = strawberry.mutation(
        resolver=people_resolvers.remove_team_member,
        description="Take a user off a team. ADMIN only.",
    )
    create_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.create_article,
        description="Write a draft article (from an incident only once it is resolved).",
    )
    update_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.update_article,
        description="Edit the working copy; a published article gets a new draft, its "
        "published version stays until the next publish.",
    )
    submit_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.submit_article,
        description="Send a draft for review.",
    )
    publish_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.publish_article,
        description="Publish the article in review as its next version; never by whoever "
        "wrote the draft (SEPARATION_OF_DUTIES).",
    )
    retire_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.retire_article,
        description="Retire an article: search no longer finds it.",
    )
    link_article: ArticlePayload = strawberry.mutation(
        resolver=knowledge_resolvers.link_article,
        description="Link an article to an incident or problem (an event on both timelines).",
    )
    request_change: ChangePayload = strawberry.mutation(
        resolver=change_resolvers.request_change,
        description="Request a change (STANDARD ones are pre-approved); conflicting planned "
        "windows on its services are reported in `conflicts`.",
    )
    approve_change: ChangePayload = strawberry.mutation(
        resolver=change_resolvers.approve_change,
        description="Approve a change: INCIDENT_MANAGER and up, never whoever requested it "
        "(SEPARATION_OF_DUTIES). EMERGENCY changes are approved afterwards too.",
    )
    reject_change: ChangePayload = strawberry.mutation(
        resolver=change_resolvers.reject_change,
        description="Reject a requested change, saying why; never your own.",
    )
    transition_change: ChangePayload = strawberry.mutation(
        resolver=change_resolvers.transition_change,
        description="Move a change along its lifecycle (see allowedTransitions).",
    )
    link_change: ChangePayload = strawberry.mutation(
        resolver=change_resolvers.link_change,
        description="Link a change to an incident or problem it FIXES (once approved, or "
        "EMERGENCY) or that was CAUSED_BY it; an event on both timelines.",
    )
    create_problem: CreateProblemPayload = strawberry.mutation(
        resolver=problem_resolvers.create_problem,
        description="Open a problem. One that looks like an active problem (services shared, "
        "title alike) is DUPLICATE, naming them, unless force: true.",
    )
    transition_problem: ProblemPayload = strawberry.mutation(
        resolver=problem_resolvers.transition_problem,
        description="Move a problem along its lifecycle; RESOLVED needs evidence, CLOSED waits "
        "out the stability window.",
    )
    record_workaround: ProblemPayload = strawberry.mutation(
        resolver=problem_resolvers.record_workaround,
        description="Record a workaround: the problem becomes a KNOWN_ERROR.",
    )
    link_problem: ProblemPayload = strawberry.mutation(
        resolver=problem_resolvers.link_problem,
        description="Link an incident the problem explains (an event on both timelines).",
    )
    unlink_problem: ProblemPayload = strawberry.mutation(
        resolver=problem_resolvers.unlink_problem,
        description="Take an incident off a problem (an event on both timelines).",
    )
    start_review: ReviewPayload = strawberry.mutation(
        resolver=comms_resolvers.start_review,
        description="Start the post-incident review of a RESOLVED or CLOSED incident: a DRAFT "
        "with an excerpt of its timeline.",
    )
    update_review: ReviewPayload = strawberry.mutation(
        resolver=comms_resolvers.update_review,
        description="Change a review, or move it between DRAFT and IN_REVIEW; editing a "
        "published review starts its next version.",
    )
    publish_review: ReviewPayload = strawberry.mutation(
        resolver=comms_resolvers.publish_review,
        description="Publish the review (it needs a summary); it never changes again. "
        "INCIDENT_MANAGER and ADMIN.",
    )
    add_action_item: ActionItemPayload = strawberry.mutation(
        resolver=comms_resolvers.add_action_item,
        description="Add an action item to an incident's review.",
    )
    update_action_item: ActionItemPayload = strawberry.mutation(
        resolver=comms_resolvers.update_action_item,
        description="Change an action item: its owner, due time, status or link.",
    )
    send_communication: SendCommunicationPayload = strawberry.mutation(
        resolver=notification_resolvers.send_communication,
        description="Send a message about an incident by e-mail, Slack, the tenant's webhook "
        "or PagerDuty to users, teams, whoever is on call, addresses or an audience: one "
        "communication per recipient and channel, each with its ref in its text and a "
        "comms.update_sent event; failures are retried with backoff, then FAILED.",
    )
    retry_communication: CommunicationPayload = strawberry.mutation(
        resolver=notification_resolvers.retry_communication,
        description="Try a FAILED outbound message again now, its attempts given back.",
    )
    run_notification_rule: SendCommunicationPayload = strawberry.mutation(
        resolver=notification_resolvers.run_notification_rule,
        description="Send now what a notification rule (by id or name) says about an "
        "incident, as sendCommunication sends.",
    )
    email_report: SendCommunicationPayload = strawberry.mutation(
        resolver=notification_resolvers.email_report,
        description="E-mail an incident's report (text) to addresses, users, teams or an "
        "audience, showing only what `classification` may read: sent as sendCommunication "
        "sends, one communication per recipient.",
    )
    create_notification_rule: NotificationRulePayload = strawberry.mutation(
        resolver=notification_resolvers.create_notification_rule,
        description="A rule: which event of an incident notifies whom over which channels; "
        "its templates' placeholders are checked now (ADMIN).",
    )
    update_notification_rule: NotificationRulePayload = strawberry.mutation(
        resolver=notification_resolvers.update_notification_rule,
        description="Change a notification rule (ADMIN).",
    )
    delete_notification_rule: NotificationRulePayload = strawberry.mutation(
        resolver=notification_resolvers.delete_notification_rule,
        description="Delete a notification rule (ADMIN).",
    )
    set_notification_preferences: NotificationPreferencesPayload = strawberry.mutation(
        resolver=notification_resolvers.set_notification_preferences,
        description="Your channels, muted events and quiet hours (a person's token).",
    )
    configure_notifications: NotificationSettingsPayload = strawberry.mutation(
        resolver=notification_resolvers.configure_notifications,
        description="Set where the tenant's messages go: Slack, the signed webhook, "
        "PagerDuty, each audience's addresses and channel (ADMIN).",
    )
    update_retention: TenantRetentionPayload = strawberry.mutation(
        resolver=tenant_resolvers.update_retention,
        description="How long the tenant keeps closed incidents, and a legal hold on all of "
        "them (ADMIN).",
    )
    set_legal_hold: LegalHoldPayload = strawberry.mutation(
        resolver=tenant_resolvers.set_legal_hold,
        description="Keep an incident from purging, or let it go again, with a reason for the "
        "audit log (ADMIN).",
    )
    create_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.create_webhook_endpoint,
        description="Push the tenant's events to a URL, signed per Standard Webhooks; the "
        "`whsec_` secret is in the payload, once (ADMIN).",
    )
    update_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.update_webhook_endpoint,
        description="Change an endpoint's URL, event types or description; enable or pause it "
        "(ADMIN).",
    )
    rotate_webhook_secret: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.rotate_webhook_secret,
        description="A new signing secret, shown once; the previous one signs too for "
        "INCIDENTGRAPH_WEBHOOK_SECRET_OVERLAP_SECONDS (ADMIN).",
    )
    delete_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.delete_webhook_endpoint,
        description="Delete an endpoint and its deliveries (ADMIN).",
    )
    replay_webhook_endpoint: WebhookEndpointPayload = strawberry.mutation(
        resolver=webhook_resolvers.replay_webhook_endpoint,
        description="Deliver again every event after a feed cursor (ADMIN).",
    )
    redeliver_webhook: WebhookDeliveryPayload = strawberry.mutation(
        resolver=webhook_resolvers.redeliver_webhook,
        description="Attempt a delivery again now, with a fresh run of retries (ADMIN).",
    )
    log_communication: CommunicationPayload = strawberry.mutation(
        resolver=comms_resolvers.log_communication,
        description="Record a message exchanged about an incident (a call, a meeting, an "
        "e-mail): a communication with its short ref and a comms.logged event.",
    )
    override_priority: IncidentPayload = strawberry.mutation(
        resolver=incident_resolvers.override_priority,
        description="Set an incident's priority by hand over the matrix's, with a "
        "justification (a priority_overridden event; audited); null gives the matrix's back. "
        "INCIDENT_MANAGER and ADMIN.",
    )
    engage_vendor: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.engage_vendor,
        description="Record a vendor engaged (a vendor.engaged event) and move the incident "
        "to PENDING with reason VENDOR, its SLA clocks paused.",
    )
    record_tool_usage: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.record_tool_usage,
        description="Record a tool used in the response and to what effect (a tool.used event).",
    )
    record_drill_outcome: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.record_drill_outcome,
        description="How a drill went (a drill.outcome_recorded event). INCIDENT_MANAGER and "
        "ADMIN.",
    )
    escalate_incident: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.escalate_incident,
        description="Move an incident up its escalation path with a reason (an escalated "
        "event); past the last level only to a team or tier named.",
    )
    update_escalation_policy: EscalationPolicyPayload = strawberry.mutation(
        resolver=response_resolvers.update_escalation_policy,
        description="Set the escalation path of one priority. ADMIN only.",
    )
    create_playbook: PlaybookPayload = strawberry.mutation(
        resolver=response_resolvers.create_playbook,
        description="A template of tasks (1 to 100) for a kind of incident. INCIDENT_MANAGER "
        "and ADMIN.",
    )
    update_playbook: PlaybookPayload = strawberry.mutation(
        resolver=response_resolvers.update_playbook,
        description="Change a playbook: any change makes a new version. Retire it with "
        "active: false.",
    )
    apply_playbook: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.apply_playbook,
        description="Add a playbook's tasks to an incident (a playbook.applied event with the "
        "task count). Applying the same version again adds nothing.",
    )
    assign_role: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.assign_role,
        description="Give a user a role on an incident (a role.assigned event). A new "
        "COMMANDER is a handover from the one before, and sets `commander` to their handle.",
    )
    unassign_role: IncidentPayload = strawberry.mutation(
        resolver=response_resolvers.unassign_role,
        description="Take a role from a user (a role.assigned event with `to: null`).",
    )
    add_task: TaskPayload = strawberry.mutation(
        resolver=response_resolvers.add_task,
        description=f"Add a TODO task to an incident not CLOSED or CANCELLED (at most "
        f"{TASKS_MAX} per incident).",
    )
    update_task: TaskPayload = strawberry.mutation(
        resolver=response_resolvers.update_task,
        description="Change a task's fields; a dependency that would close a cycle is VALIDATION.",
    )
    transition_task: TaskPayload = strawberry.mutation(
        resolver=response_resolvers.transition_task,
        description="Move a task between TODO, IN_PROGRESS, BLOCKED, DONE and SKIPPED; DONE "
        "only once the tasks it depends on are DONE or SKIPPED (INVALID_TRANSITION).",
    )
    set_affected_services: IncidentPayload = strawberry.mutation(
        resolver=catalog_resolvers.set_affected_services,
        description="Set every service an incident affects: a link or unlink event on its "
        "timeline for each one added or taken off.",
    )
    create_service: ServicePayload = strawberry.mutation(
        resolver=catalog_resolvers.create_service,
        description="Add a service to the catalog. ADMIN only.",
    )
    update_service: ServicePayload = strawberry.mutation(
        resolver=catalog_resolvers.update_service,
        description="Change a service: the fields given; dependsOnIds replaces every "
        "dependency (a cycle is VALIDATION). ADMIN only.",
    )
    create_rotation: RotationPayload = strawberry.mutation(
        resolver=oncall_resolvers.create_rotation,
        description="Give a team an on-call rotation of one or more layers. ADMIN only.",
    )
    update_rotation: RotationPayload = strawberry.mutation(
        resolver=oncall_resolvers.update_rotation,
        description="Rename a rotation or replace its layers. ADMIN only.",
    )
    add_override: OverridePayload = strawberry.mutation(
        resolver=oncall_resolvers.add_override,
        description="Put someone on call in a rotation for a period. ADMIN only.",
    )
    remove_override: OverridePayload = strawberry.mutation(
        resolver=oncall_resolvers.remove_override,
        description="Take an override back. ADMIN only.",
    )
    retry_quarantined_alerts: QuarantinedAlertsPayload = strawberry.mutation(
        resolver=alert_resolvers.retry_quarantined_alerts,
        description="Send quarantined alerts back to the intake, as they were accepted, once "
        "what stopped them is fixed; all of them or, on an error, none. ADMIN only.",
    )
    discard_quarantined_alerts: QuarantinedAlertsPayload = strawberry.mutation(
        resolver=alert_resolvers.discard_quarantined_alerts,
        description="Delete quarantined alerts for good; all of them or, on an error, none. "
        "ADMIN only.",
    )


@strawberry.type
class Subscription:
    # Annotated as the resolvers' generators; Strawberry strips AsyncGenerator to the item type.
    incident_updated: AsyncGenerator[Incident, None] = strawberry.subscription(
        resolver=incident_resolvers.incident_updated,
        description="The incident after every change to it: each new state once, in order "
        "(query `incident` for its state now).",
    )
    timeline_event_added: AsyncGenerator[TimelineEvent, None] = strawberry.subscription(
        resolver=timeline_resolvers.timeline_event_added,
        description="The incident's timeline events as they are appended, in seq order, no "
        "gap, no duplicate. `after`: an event's cursor, whose later events are replayed "
        'first; `"c2VxOjA"` (seq 0) replays the whole timeline from its first event; '
        "without it, only events from now on. Resume a dropped connection with the last "
        "cursor received.",
    )
    event_added: AsyncGenerator[FeedEvent, None] = strawberry.subscription(
        resolver=feed_resolvers.event_added,
        description="The tenant's events as they commit, in commit order; with `after`, the "
        "ones after that cursor first: no gap, no duplicate.",
    )
    incidents_changed: AsyncGenerator[Incident, None] = strawberry.subscription(
        resolver=incident_resolvers.incidents_changed,
        description="Every incident of the tenant that `filter` takes (the filter of "
        "`incidents`), after each change to it; a filter on other tables (services, tasks, "
        "alerts...) is checked by the database for each change.",
    )
    record_updated: AsyncGenerator[Record, None] = strawberry.subscription(
        resolver=record_resolvers.record_updated,
        description="A problem, change or knowledge article, after every change to it.",
    )
    board_updated: AsyncGenerator[StatusBoard, None] = strawberry.subscription(
        resolver=board_resolvers.board_updated,
        description="The persona's whole board now, then again after changes: at most one "
        "push a second, and when an SLA clock falls due.",
    )


# Estimated over the schema's own SDL, built once on first use (see app/schema/cost.py).
def _sdl() -> str:
    return schema.as_str()


_COST = QueryCost(_sdl)

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[Incident, TimelineEvent, Alert, User, Team],
    config=StrawberryConfig(auto_camel_case=True),
    execution_context_class=SharedEventExecutionContext,
    # Factories, not instances: an extension instance holds its operation's context, so one
    # shared by concurrent operations would mix them up. The document cache lives at module
    # level (app/schema/documents.py).
    extensions=[
        CachedParser,
        lambda: AddValidationRules(_LIMIT_RULES),
        CachedValidation,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: CostLimit(_COST),
        PushSizeLimit,
        ErrorCodes,
        Observed,
    ],
)
