"""Who asks for a command, passed to every command explicitly.

A command learns from its caller the tenant it runs in, who asks (recorded as the actor on
the timeline and in the audit log), the role or authority behind the request, and the
clearance that bounds what it may see and write. There is no default caller and no "None
sees everything": the system's own work (the alert processor, the ticket sync, the demo
seed) names itself with `Caller.system` or `Caller.external`, so a call that forgets its
caller fails to type-check instead of running with every right.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.models import Classification, Role
from app.services.access.tokens import Principal

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


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    actor: str | None
    role: Role | Authority
    clearance: Classification

    @classmethod
    def of(cls, principal: Principal) -> Caller:
        """A person or integration holding an API token: its name, role and clearance."""
        return cls(principal.tenant_id, principal.name, principal.role, principal.clearance)

    @classmethod
    def system(cls, tenant_id: str, *, actor: str | None = None) -> Caller:
        """incidentgraph's own work in a tenant: it sees what it must act on."""
        return cls(tenant_id, actor, Authority.SYSTEM, EVERYTHING)

    @classmethod
    def external(cls, tenant_id: str, *, actor: str | None) -> Caller:
        """A change made in a linked ticket: read like the system, bound by no person's role."""
        return cls(tenant_id, actor, Authority.EXTERNAL, EVERYTHING)
