"""Who asks for a command, passed to every command explicitly.

A command learns from its caller the tenant it runs in, who asks (recorded as the actor on
the timeline and in the audit log), the role or authority behind the request, and the
clearance that bounds what it may see and write. There is no default caller and no "None
sees everything": the system's own work (the alert processor, the ticket sync, the demo
seed) names itself with `Caller.system` or `Caller.external`, so a call that forgets its
caller fails to type-check instead of running with every right.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.models import Classification, Role

# The clearance that reaches every classification.
EVERYTHING = Classification.RESTRICTED


class Authority(StrEnum):
    """Who stands behind a command that no person with a role makes."""

    # incidentgraph itself (the alert processor, the demo seed): trusted like its code.
    SYSTEM = "SYSTEM"
    # A change made in a linked ticket: whoever made it there is unknown, so it holds no
    # role's grant and may be the very person a rule keeps out. Every rule that asks for a
    # role or a person is unmet, and the change is refused (a sync makes it a conflict).
    EXTERNAL = "EXTERNAL"
    # A read built once and shared by every subscriber of one clearance (a live status
    # board): nobody in particular, holding no role's grant.
    SHARED = "SHARED"


# A person acting is recorded by their user's global id, "usr_<32 hex>", never by the name
# of the token they hold: two tokens of one person are one actor.
USER_ACTOR_PREFIX = "usr_"


def user_actor(user_id: str) -> str:
    """The actor a user is recorded as on timelines and audit records."""
    return USER_ACTOR_PREFIX + uuid.UUID(user_id).hex


def actor_user_id(actor: str | None) -> str | None:
    """The user an actor names, or None for a service token, the system or a ticket."""
    if actor is None or not actor.startswith(USER_ACTOR_PREFIX):
        return None
    try:
        return str(uuid.UUID(hex=actor[len(USER_ACTOR_PREFIX) :]))
    except ValueError:
        return None


class TokenHolder(Protocol):
    """What a caller is made of when it holds an API token (tokens.Principal)."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def actor(self) -> str: ...
    @property
    def role(self) -> Role: ...
    @property
    def clearance(self) -> Classification: ...


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    actor: str | None
    role: Role | Authority
    clearance: Classification

    @classmethod
    def of(cls, principal: TokenHolder) -> Caller:
        """A person or integration holding a token: who they are, their role and clearance."""
        return cls(principal.tenant_id, principal.actor, principal.role, principal.clearance)

    @classmethod
    def system(cls, tenant_id: str, *, actor: str | None = None) -> Caller:
        """incidentgraph's own work in a tenant: it sees what it must act on."""
        return cls(tenant_id, actor, Authority.SYSTEM, EVERYTHING)

    @classmethod
    def shared(cls, tenant_id: str, *, clearance: Classification) -> Caller:
        """Every reader of `clearance` at once: what one of them may see, no more."""
        return cls(tenant_id, None, Authority.SHARED, clearance)

    @classmethod
    def external(cls, tenant_id: str, *, actor: str | None) -> Caller:
        """A change made in a linked ticket: read like the system, bound by no person's role."""
        return cls(tenant_id, actor, Authority.EXTERNAL, EVERYTHING)
