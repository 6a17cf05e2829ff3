"""The permission table: which role may do what. Every API entry point checks it.

ADMIN may do all that INCIDENT_MANAGER may, which may do all that RESPONDER may, which may
do all that VIEWER may (README, "Authentication"). STAKEHOLDER sees status boards only; INGEST may
only post alerts. Rules that depend on the incident itself (closing a P1 or P2, segregation of
duties) live with the command, in services/incidents/commands.py.
"""

from __future__ import annotations

from enum import StrEnum

from app.models import Role
from app.services.access.classification import (
    FIELD_CLASSIFICATION,
    RECORD_FIELD_CLASSIFICATION,
    ROLE_CLEARANCE,
    api_name,
)


class Action(StrEnum):
    READ_INCIDENTS = "READ_INCIDENTS"  # queries and subscriptions on incidents and timelines
    READ_BOARDS = "READ_BOARDS"
    DECLARE = "DECLARE"
    UPDATE = "UPDATE"
    TRANSITION = "TRANSITION"
    ASSIGN = "ASSIGN"
    ADD_NOTE = "ADD_NOTE"
    CLOSE_HIGH_PRIORITY = "CLOSE_HIGH_PRIORITY"  # move a P1 or P2 incident to CLOSED
    READ_POLICY = "READ_POLICY"
    MANAGE_POLICY = "MANAGE_POLICY"
    MANAGE_TOKENS = "MANAGE_TOKENS"
    READ_AUDIT = "READ_AUDIT"
    INGEST_ALERTS = "INGEST_ALERTS"
    MANAGE_TICKETS = "MANAGE_TICKETS"  # link, create, unlink, sync tickets; resolve conflicts
    MANAGE_ITSM = "MANAGE_ITSM"  # configure ServiceNow / Jira connections
    LINK_ALERTS = "LINK_ALERTS"  # link an alert to an incident, or unlink it
    MERGE_INCIDENTS = "MERGE_INCIDENTS"  # merge one incident into another (cancels the source)
    # read and edit the alert correlation rules; read the alerts the processor quarantined
    MANAGE_CORRELATION = "MANAGE_CORRELATION"
    READ_PEOPLE = "READ_PEOPLE"  # the tenant's users and teams
    MANAGE_PEOPLE = "MANAGE_PEOPLE"  # create, change and deactivate users; teams and members
    PROVISION_PEOPLE = "PROVISION_PEOPLE"  # SCIM 2.0 at /scim/v2: an identity provider's own
    MANAGE_SERVICES = "MANAGE_SERVICES"  # the service catalog: services, owners, dependencies
    MANAGE_PROBLEMS = "MANAGE_PROBLEMS"  # open, move and link problems; record workarounds
    MANAGE_CHANGES = "MANAGE_CHANGES"  # request, move and link changes
    APPROVE_CHANGES = "APPROVE_CHANGES"  # approve or reject changes (never your own)
    MANAGE_KNOWLEDGE = "MANAGE_KNOWLEDGE"  # write, review, publish (not your own), retire, link
    MANAGE_PLAYBOOKS = "MANAGE_PLAYBOOKS"  # create and change the tenant's playbooks
    RUN_DRILLS = "RUN_DRILLS"  # declare drills (response simulations), record their outcome
    OVERRIDE_PRIORITY = "OVERRIDE_PRIORITY"  # set a priority over the matrix's, with a reason
    PUBLISH_REVIEWS = "PUBLISH_REVIEWS"  # publish a post-incident review
    SEND_COMMUNICATIONS = "SEND_COMMUNICATIONS"  # e-mail, Slack, webhook and PagerDuty messages
    # where the tenant's messages go: Slack, webhook, PagerDuty, audiences' addresses
    MANAGE_NOTIFICATIONS = "MANAGE_NOTIFICATIONS"
    # outbound webhook endpoints: create, change, rotate, replay; read and redeliver deliveries
    MANAGE_WEBHOOKS = "MANAGE_WEBHOOKS"
    # how long closed incidents are kept, and legal holds on incidents or the tenant
    MANAGE_RETENTION = "MANAGE_RETENTION"


_VIEWER = frozenset(
    {Action.READ_INCIDENTS, Action.READ_BOARDS, Action.READ_POLICY, Action.READ_PEOPLE}
)
_RESPONDER = _VIEWER | {
    Action.DECLARE,
    Action.UPDATE,
    Action.TRANSITION,
    Action.ASSIGN,
    Action.ADD_NOTE,
    Action.MANAGE_TICKETS,
    Action.LINK_ALERTS,
    Action.MERGE_INCIDENTS,
    Action.MANAGE_PROBLEMS,
    Action.MANAGE_CHANGES,
    Action.MANAGE_KNOWLEDGE,
    Action.SEND_COMMUNICATIONS,
}
_INCIDENT_MANAGER = _RESPONDER | {
    Action.CLOSE_HIGH_PRIORITY,
    Action.APPROVE_CHANGES,
    Action.MANAGE_PLAYBOOKS,
    Action.RUN_DRILLS,
    Action.OVERRIDE_PRIORITY,
    Action.PUBLISH_REVIEWS,
}
_ADMIN = _INCIDENT_MANAGER | {
    Action.MANAGE_POLICY,
    Action.MANAGE_TOKENS,
    Action.READ_AUDIT,
    Action.MANAGE_ITSM,
    Action.MANAGE_CORRELATION,
    Action.MANAGE_PEOPLE,
    Action.MANAGE_SERVICES,
    Action.MANAGE_NOTIFICATIONS,
    Action.MANAGE_WEBHOOKS,
    Action.MANAGE_RETENTION,
}

GRANTS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.STAKEHOLDER: frozenset({Action.READ_BOARDS}),
    Role.RESPONDER: frozenset(_RESPONDER),
    Role.INCIDENT_MANAGER: frozenset(_INCIDENT_MANAGER),
    Role.ADMIN: frozenset(_ADMIN),
    Role.INGEST: frozenset({Action.INGEST_ALERTS}),
    Role.SCIM: frozenset({Action.PROVISION_PEOPLE}),
}


def allowed(role: Role, action: Action) -> bool:
    return action in GRANTS[role]


# What a role grants that no person's role includes: tokens for machines that post alerts
# or provision people.
_MACHINE_GRANTS = frozenset({Action.INGEST_ALERTS, Action.PROVISION_PEOPLE})


def may_issue(issuer: Role, role: Role) -> bool:
    """Whether a caller with role `issuer` may issue a token with role `role`: one that may do
    nothing the issuer may not. Whoever manages tokens also issues the machines' INGEST and
    SCIM ones."""
    wanted = GRANTS[role]
    if Action.MANAGE_TOKENS in GRANTS[issuer]:
        wanted = wanted - _MACHINE_GRANTS
    return wanted <= GRANTS[issuer]


def render_markdown() -> str:
    """The table as docs/permissions.md shows it (a test keeps the two identical)."""
    roles = list(Role)
    lines = [
        "# Permissions",
        "",
        "Generated from `app/services/access/permissions.py`"
        " (`python -m app.services.access.permissions`).",
        "Every query field, mutation and subscription checks this table; a caller without the",
        'permission gets a GraphQL error with `extensions.code = "FORBIDDEN"` and nothing is',
        "written. Every refusal comes back this one way: a top-level GraphQL error (the field",
        "answered null, `extensions.field` naming the input that was refused where one was),",
        "never a payload's `errors`, whether the role or a rule below refused.",
        "",
        "| action | " + " | ".join(r.value for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for action in Action:
        marks = " | ".join("yes" if allowed(r, action) else "" for r in roles)
        lines.append(f"| `{action.value}` | {marks} |")
    lines += [
        "",
        "Rules that depend on the incident, checked by the command itself (`FORBIDDEN`,",
        "nothing written):",
        "",
        "- Closing a P1 or P2 incident needs `CLOSE_HIGH_PRIORITY` (INCIDENT_MANAGER or ADMIN).",
        "- Segregation of duties: whoever declared a P1 incident cannot be the one who closes it.",
        "- A change made in a linked ticket (ServiceNow, Jira) holds no role and may come from",
        "  the declarer: closing a P1 or P2 incident from a ticket is refused, and the sync",
        "  records a conflict on the ticket's status instead.",
        "",
        "Alerts are read with `READ_INCIDENTS` and are INTERNAL: an alert linked to an incident",
        "the caller may not see is not found, exactly like an unknown id. The alerts the",
        "processor quarantined (`alertQuarantine`) are read, retried",
        "(`retryQuarantinedAlerts`) and discarded (`discardQuarantinedAlerts`) with",
        "`MANAGE_CORRELATION`.",
        "",
        "## Clearance and classification",
        "",
        "Generated from `app/services/access/classification.py`. Incidents, timeline events and",
        "incident fields carry a classification (PUBLIC < INTERNAL < CONFIDENTIAL < RESTRICTED);",
        "a token reads what its clearance reaches. A token's clearance is its role's, unless",
        "it was created with another (`--clearance`, or `clearance` in `createApiToken`).",
        "",
        "| role | default clearance |",
        "|---|---|",
        *(f"| `{role.value}` | `{ROLE_CLEARANCE[role].value}` |" for role in roles),
        "",
        "| incident field | classification |",
        "|---|---|",
        *(
            f"| `{api_name(name)}` | `{level.value}` |"
            for name, level in FIELD_CLASSIFICATION.items()
        ),
        "| every other field (status, priority, severity, service, times, SLA...) | `PUBLIC` |",
        "",
        "- A RESTRICTED incident exists only for tokens cleared RESTRICTED: for any other it is",
        "  not found, not listed, not counted and not pushed, exactly like an id that does not",
        "  exist. Reads of a RESTRICTED incident (query, list, `node`, live push) write audit",
        "  records `incident.read` first: one per reader, incident and field a window",
        "  (`INCIDENTGRAPH_AUDIT_READ_WINDOW_SECONDS`, every read at `0`).",
        "- A field reads as `[REDACTED]` (or null when it is empty) unless the clearance",
        "  reaches both the field's classification and the incident's; `redactedFields` lists",
        "  the fields redacted for the caller.",
        "- A timeline event is as classified as the higher of its own classification and its",
        "  incident's. Above the caller's clearance, every text in its `data` (and",
        "  `cloudEvent.data`) reads `[REDACTED]`, every other value null, and `redacted` is",
        "  true. Notes take a classification (INTERNAL by default); a `resolved` event that",
        "  carries a root cause is CONFIDENTIAL; the `merged` and `state_change` events a merge",
        "  writes on its source are as classified as the target; every other event is INTERNAL.",
        "- An alert is as classified as the higher of INTERNAL and its incident's",
        "  classification. Below that, its text (`title`, `description`, `alertname`, `labels`,",
        "  `annotations`, `url`) reads `[REDACTED]` as the incident's does, `redactedFields`",
        "  lists them, and `alerts(filter: {text})` does not match that text.",
        "- Problems, changes and knowledge articles are classified as incidents are (INTERNAL",
        "  by default): a RESTRICTED one exists only for tokens cleared RESTRICTED; any other",
        "  is listed, counted and linked for every reader, its text fields below (by their",
        "  record's kind) reading `[REDACTED]` unless the clearance reaches both the field's",
        "  classification and the record's, `redactedFields` listing them; its timeline events",
        "  (`actor` and `data`) are redacted below INTERNAL or the record's classification,",
        "  whichever is higher; text filters and knowledge search match only the records whose",
        "  text the reader may read, and a `DUPLICATE` error names only those.",
        "",
        "| record field | classification |",
        "|---|---|",
        *(
            f"| {kind} `{api_name(name)}` | `{level.value}` |"
            for kind, fields in RECORD_FIELD_CLASSIFICATION.items()
            for name, level in fields.items()
        ),
        "",
        "- Nobody classifies above their own clearance (declare, reclassify, add a note):",
        "  `FORBIDDEN`, nothing written.",
        "- The audit log is read as the incidents are: records of an incident the reader may",
        "  not see are not listed (filtered by target or not), field values in a record's",
        "  `changes` read `[REDACTED]` (null when empty) where the incident's own field would,",
        "  a reference to an incident the reader may not see (`merged_into_id`) reads null, and",
        "  `redacted` is true on a record with any value hidden.",
        "",
        "## Issuing tokens",
        "",
        "Nobody issues a token above themselves (`createApiToken`; `FORBIDDEN` naming the",
        "field, nothing written, nothing audited):",
        "",
        "- `role`: the new token's role may do nothing the issuer's role may not; whoever may",
        "  `MANAGE_TOKENS` also issues `INGEST` and `SCIM` tokens, the machines' own.",
        "- `clearance`: at most the issuer's clearance. Left out, it is the role's default",
        "  capped at the issuer's clearance: an `ADMIN` cleared `INTERNAL` issues `ADMIN` tokens",
        "  cleared `INTERNAL`, and `VIEWER` tokens cleared `INTERNAL`.",
        "- `incidentgraph token create` and `INCIDENTGRAPH_BOOTSTRAP_TOKEN` act for the operator,",
        "  who holds the database's credentials and so every token: they issue any role and",
        "  clearance. There is no other way to issue a token (no rotation: revoke and issue).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
