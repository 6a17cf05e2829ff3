"""The shapes of the ticket keys each provider hands out, and nothing else.

A ticket key ends up in a URL path (`/api/now/table/incident/<sys_id>`,
`/rest/api/3/issue/<key>`) requested with the integration account's credentials, so a key
that could be read as more than one path segment (`../problem/<sys_id>`), or that carries a
query, would reach records the account may touch and nobody meant to link. Only these shapes
are taken: when a person links a ticket, from a provider's answer, from a webhook, and again
by the connectors before a request is built.

- ServiceNow: a sys_id (32 hex digits) or an incident number (INC and 4 to 12 digits).
- Jira: an issue key, a project key and a number (OPS-42).
"""

from __future__ import annotations

import re

from app.models import ItsmProvider

SERVICENOW_SYS_ID = re.compile(r"[0-9a-fA-F]{32}")
SERVICENOW_NUMBER = re.compile(r"INC[0-9]{4,12}")
# Jira project keys: a capital letter, then capitals, digits or underscores.
JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]{1,31}-[0-9]{1,12}")


def valid_sys_id(value: str) -> bool:
    return SERVICENOW_SYS_ID.fullmatch(value) is not None


def valid_number(provider: ItsmProvider, value: str) -> bool:
    """What people call the ticket: INC0010001, OPS-42."""
    pattern = SERVICENOW_NUMBER if provider is ItsmProvider.SERVICENOW else JIRA_KEY
    return pattern.fullmatch(value) is not None


def valid_key(provider: ItsmProvider, value: str) -> bool:
    """A key a person may link and a connector may put in a path."""
    if provider is ItsmProvider.SERVICENOW:
        return valid_sys_id(value) or valid_number(provider, value)
    return JIRA_KEY.fullmatch(value) is not None


def describe(provider: ItsmProvider) -> str:
    if provider is ItsmProvider.SERVICENOW:
        return "a ServiceNow sys_id (32 hex digits) or incident number (such as INC0010001)"
    return "a Jira issue key (such as OPS-42)"
