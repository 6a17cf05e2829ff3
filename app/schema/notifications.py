"""GraphQL types of outbound messages: sending one, and where a tenant's messages go."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry

from app import models
from app.schema.common import Classification, UserError, to_global_id
from app.schema.comms import Audience, Communication, CommunicationChannel
from app.schema.incident import Priority
from app.services.comms.destinations import AudienceView, NotificationSettingsView
from app.services.comms.preferences import PreferenceView
from app.services.comms.rules import RuleView

RULE_PREFIX = "rule_"


@strawberry.input(description="A message to send about an incident, and to whom.")
class SendCommunicationInput:
    incident_id: strawberry.ID
    message: str
    channels: list[CommunicationChannel] = strawberry.field(
        description="EMAIL, SLACK, WEBHOOK or PAGERDUTY (others are logged, not sent)."
    )
    subject: str | None = strawberry.field(
        default=None, description="Default: the incident's number, priority and title."
    )
    audience: Audience | None = strawberry.field(
        default=None, description="Adds the audience's configured addresses and Slack channel."
    )
    user_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    team_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Every member of these teams."
    )
    on_call_team_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Whoever is on call in these teams now."
    )
    addresses: list[str] = strawberry.field(
        default_factory=list, description="E-mail addresses of people outside the tenant."
    )
    classification: Classification = strawberry.field(
        default=Classification.INTERNAL,
        description="Above your clearance is refused; only PUBLIC may go to END_USERS.",
    )


@strawberry.input
class RetryCommunicationInput:
    id: strawberry.ID


@strawberry.input(description="A notification rule run on an incident now.")
class RunNotificationRuleInput:
    incident_id: strawberry.ID
    rule: str = strawberry.field(description="The rule's id or name.")


@strawberry.input(description="An incident's report, e-mailed as text.")
class EmailReportInput:
    incident_id: strawberry.ID
    addresses: list[str] = strawberry.field(default_factory=list)
    user_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    team_ids: list[strawberry.ID] = strawberry.field(default_factory=list)
    audience: Audience | None = None
    classification: Classification = strawberry.field(
        default=Classification.INTERNAL,
        description="The report shows only what this classification may read.",
    )


@strawberry.type(description="One message per recipient and channel, each with its own ref.")
class SendCommunicationPayload:
    communications: list[Communication]
    sent: int = strawberry.field(description="Delivered at the first attempt.")
    failed: int = strawberry.field(description="Refused for good (the error says why).")
    pending: int = strawberry.field(description="Failed once; retried with backoff.")
    errors: list[UserError]


@strawberry.type(description="The addresses and Slack channel of one audience.")
class AudienceDestination:
    audience: Audience
    emails: list[str]
    slack_channel: str | None

    @classmethod
    def of(cls, view: AudienceView) -> AudienceDestination:
        return cls(
            audience=view.audience, emails=list(view.emails), slack_channel=view.slack_channel
        )


@strawberry.type(
    description="Where the tenant's outbound messages go. Secrets are never read back."
)
class NotificationSettings:
    email_from: str | None
    slack_webhook_set: bool
    slack_bot_token_set: bool
    slack_api_url: str
    slack_channel: str | None
    slack_team_id: str | None = strawberry.field(
        description="The Slack workspace whose /incident commands act in this tenant."
    )
    slack_signing_secret_set: bool
    slack_incident_channels: bool = strawberry.field(
        description="Every incident declared gets a Slack channel of its own."
    )
    webhook_url: str | None
    webhook_secret_set: bool
    pagerduty_routing_key_set: bool
    pagerduty_events_url: str
    audiences: list[AudienceDestination]
    webhook_secret: str | None = strawberry.field(
        description="The webhook's signing secret (whsec_...), only in the answer that made "
        "it: keep it now, it is never shown again."
    )

    @classmethod
    def of(cls, view: NotificationSettingsView) -> NotificationSettings:
        return cls(
            email_from=view.email_from,
            slack_webhook_set=view.slack_webhook_set,
            slack_bot_token_set=view.slack_bot_token_set,
            slack_api_url=view.slack_api_url,
            slack_channel=view.slack_channel,
            slack_team_id=view.slack_team_id,
            slack_signing_secret_set=view.slack_signing_secret_set,
            slack_incident_channels=view.slack_incident_channels,
            webhook_url=view.webhook_url,
            webhook_secret_set=view.webhook_secret_set,
            pagerduty_routing_key_set=view.pagerduty_routing_key_set,
            pagerduty_events_url=view.pagerduty_events_url,
            audiences=[AudienceDestination.of(a) for a in view.audiences],
            webhook_secret=view.new_webhook_secret,
        )


@strawberry.input
class AudienceDestinationInput:
    audience: Audience
    emails: list[str] = strawberry.field(default_factory=list)
    slack_channel: str | None = None


@strawberry.input(description="Omitted fields are kept; null clears one.")
class ConfigureNotificationsInput:
    email_from: str | None = strawberry.UNSET
    slack_webhook_url: str | None = strawberry.UNSET
    slack_bot_token: str | None = strawberry.UNSET
    slack_api_url: str | None = strawberry.UNSET
    slack_channel: str | None = strawberry.UNSET
    slack_team_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="Slack's team id (T...), for ChatOps."
    )
    slack_signing_secret: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="The Slack app's signing secret: slash commands are verified with it.",
    )
    slack_incident_channels: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="A channel of its own for every incident declared from now on (inc-<n>-"
        "sev<level>-<title>, private and without the title for CONFIDENTIAL and RESTRICTED "
        "ones), its topic kept to the incident's status, commander and on-call invited, key "
        "events posted. Needs slackBotToken.",
    )
    webhook_url: str | None = strawberry.UNSET
    pagerduty_routing_key: str | None = strawberry.UNSET
    pagerduty_events_url: str | None = strawberry.UNSET
    audiences: list[AudienceDestinationInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every audience's destinations."
    )
    rotate_webhook_secret: bool = strawberry.field(
        default=False, description="Make a new signing secret (answered once)."
    )


@strawberry.type
class NotificationSettingsPayload:
    settings: NotificationSettings | None
    errors: list[UserError]


RuleEvent: TypeAlias = Annotated[
    models.RuleEvent, strawberry.enum(description="What happened to an incident.")
]
RuleRecipient: TypeAlias = Annotated[
    models.RuleRecipient,
    strawberry.enum(
        description="Who a rule notifies: the assigned user, the assigned team's members or "
        "whoever is on call in it, the commander, the communications lead, the users a note "
        "mentioned, or the rule's audience."
    ),
]


@strawberry.type(description="Which event notifies whom, over which channels, with which words.")
class NotificationRule:
    id: strawberry.ID
    name: str
    event: RuleEvent
    priorities: list[Priority] = strawberry.field(description="Empty: every priority.")
    recipients: list[RuleRecipient]
    audience: Audience | None
    channels: list[CommunicationChannel]
    subject_template: str
    body_template: str
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: RuleView) -> NotificationRule:
        return cls(
            id=strawberry.ID(to_global_id(RULE_PREFIX, view.id)),
            name=view.name,
            event=view.event,
            priorities=list(view.priorities),
            recipients=list(view.recipients),
            audience=view.audience,
            channels=list(view.channels),
            subject_template=view.subject_template,
            body_template=view.body_template,
            enabled=view.enabled,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


@strawberry.type(description="A name a rule's templates may use in braces: {reference}.")
class Placeholder:
    name: str
    description: str


@strawberry.input(description="Templates default to a subject and text naming the incident.")
class CreateNotificationRuleInput:
    name: str
    event: RuleEvent
    recipients: list[RuleRecipient]
    channels: list[CommunicationChannel]
    priorities: list[Priority] = strawberry.field(default_factory=list)
    audience: Audience | None = None
    subject_template: str | None = strawberry.UNSET
    body_template: str | None = strawberry.UNSET
    enabled: bool = True


@strawberry.input(description="Omitted fields are kept.")
class UpdateNotificationRuleInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    event: RuleEvent | None = strawberry.UNSET
    recipients: list[RuleRecipient] | None = strawberry.UNSET
    channels: list[CommunicationChannel] | None = strawberry.UNSET
    priorities: list[Priority] | None = strawberry.UNSET
    audience: Audience | None = strawberry.UNSET
    subject_template: str | None = strawberry.UNSET
    body_template: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.input
class DeleteNotificationRuleInput:
    id: strawberry.ID


@strawberry.type
class NotificationRulePayload:
    rule: NotificationRule | None
    errors: list[UserError]


@strawberry.type(
    description="How you are notified. Quiet hours are in your own time zone; "
    "a P1 ignores them, anything else waits for them to end."
)
class NotificationPreferences:
    channels: list[CommunicationChannel] | None = strawberry.field(
        description="The channels you accept (EMAIL, SLACK); null: every one a rule names."
    )
    muted_events: list[RuleEvent]
    quiet_start: str | None = strawberry.field(description="HH:MM, 24-hour.")
    quiet_end: str | None

    @classmethod
    def of(cls, view: PreferenceView) -> NotificationPreferences:
        return cls(
            channels=None if view.channels is None else list(view.channels),
            muted_events=list(view.muted_events),
            quiet_start=view.quiet_start,
            quiet_end=view.quiet_end,
        )


@strawberry.input(description="Omitted fields are kept; null clears one.")
class NotificationPreferencesInput:
    channels: list[CommunicationChannel] | None = strawberry.UNSET
    muted_events: list[RuleEvent] | None = strawberry.UNSET
    quiet_start: str | None = strawberry.UNSET
    quiet_end: str | None = strawberry.UNSET


@strawberry.type
class NotificationPreferencesPayload:
    preferences: NotificationPreferences | None
    errors: list[UserError]
