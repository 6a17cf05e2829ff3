"""Users and teams as the API shows them, with their inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from app import models
from app.errors import DomainError, ValidationFailed
from app.schema.authorization import authorize
from app.schema.common import TEAM_PREFIX, Node, PageInfo, UserError, to_global_id
from app.schema.context import Context
from app.schema.domain_errors import graphql_error
from app.services.access.caller import Caller
from app.services.access.permissions import Action
from app.services.incidents.lifecycle import ACTIVE_STATUSES
from app.services.incidents.search import IncidentFilter
from app.services.incidents.timeline import SeqRange
from app.services.people import mentions as mention_service
from app.services.people.mentions import MentionPage
from app.services.people.teams import MemberView, TeamView
from app.services.people.users import UserView

EscalationTier: TypeAlias = Annotated[
    models.EscalationTier,
    strawberry.enum(description="Where a team stands on the escalation path."),
]
TeamRole: TypeAlias = Annotated[models.TeamRole, strawberry.enum()]

if TYPE_CHECKING:
    from app.schema.incident import Incident, IncidentConnection
    from app.schema.oncall import Rotation
    from app.schema.timeline import TimelineEvent

# Global ids: "usr_<32 hex>", "team_<32 hex>".
USER_PREFIX = "usr_"


@strawberry.type
class User(Node):
    id: strawberry.ID
    handle: str = strawberry.field(description="Unique in the tenant; what @mentions name.")
    name: str
    email: str
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Europe/Berlin.")
    phone: str | None
    chat_ids: JSON = strawberry.field(
        description='Chat ids by system, e.g. {"slack": "U024BE7LH"}.'
    )
    active: bool = strawberry.field(description="A deactivated user stays on every record.")
    created_at: datetime
    updated_at: datetime
    key: strawberry.Private[str]

    @strawberry.field(description="The teams the user belongs to, by name.")  # type: ignore[untyped-decorator]
    async def teams(self, info: Info[Context, Any]) -> list[Team]:
        loaders = info.context.loaders
        team_ids = await loaders.user_teams.load(self.key)
        views = [v for v in await loaders.team.load_many(team_ids) if v is not None]
        return [Team.of(v) for v in sorted(views, key=lambda v: v.name.lower())]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="The incidents assigned to the user, newest first, as far as you may "
        "see them: by default those still waiting (not RESOLVED, CLOSED or CANCELLED)."
    )
    async def assigned_incidents(
        self,
        info: Info[Context, Any],
        include_resolved: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Annotated[IncidentConnection, strawberry.lazy("app.schema.incident")]:
        from app.schema.incident import incident_connection

        principal = authorize(info, Action.READ_INCIDENTS)
        waiting = None if include_resolved else frozenset(ACTIVE_STATUSES)
        domain = IncidentFilter(status=waiting, assigned_users=frozenset([self.key]))
        return await incident_connection(
            info, Caller.of(principal), filter=domain, first=first, after=after
        )

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Notes that @mention the user, newest first, as far as you may see them "
        "(a mention on an incident or note above your clearance is left out)."
    )
    async def mentions(
        self, info: Info[Context, Any], first: int | None = None, after: str | None = None
    ) -> MentionConnection:
        principal = authorize(info, Action.READ_INCIDENTS)
        try:
            page = await mention_service.list_mentions(
                tenant_id=principal.tenant_id, user_id=self.key, first=first, after=after
            )
        except DomainError as error:
            raise graphql_error(error) from None
        return await MentionConnection.of(info, page)

    @classmethod
    def of(cls, view: UserView) -> User:
        return cls(
            id=strawberry.ID(to_global_id(USER_PREFIX, view.id)),
            handle=view.handle,
            name=view.name,
            email=view.email,
            time_zone=view.time_zone,
            phone=view.phone,
            chat_ids=JSON(view.chat_ids),
            active=view.active,
            created_at=view.created_at,
            updated_at=view.updated_at,
            key=view.id,
        )

    @classmethod
    async def named(
        cls, info: Info[Context, Any], user_id: str | None, *, readable: bool = True
    ) -> User | None:
        """The user an id names (an owner, a holder), or null: none, or redacted for you."""
        if user_id is None or not readable:
            return None
        view = await info.context.loaders.user.load(user_id)
        return cls.of(view) if view is not None else None


@strawberry.type(description="A note that @mentions a user.")
class Mention:
    mentioned_at: datetime
    by: str | None = strawberry.field(description="Who wrote the note (a timeline actor).")
    incident: Annotated[Incident, strawberry.lazy("app.schema.incident")]
    note: Annotated[TimelineEvent, strawberry.lazy("app.schema.timeline")]


@strawberry.type
class MentionEdge:
    cursor: str
    node: Mention


@strawberry.type
class MentionConnection:
    edges: list[MentionEdge]
    page_info: PageInfo

    @classmethod
    async def of(cls, info: Info[Context, Any], page: MentionPage) -> MentionConnection:
        """The page's mentions the caller may see: the incident and the note both readable."""
        from app.schema.authorization import audit_reads
        from app.schema.incident import Incident
        from app.schema.timeline import TimelineEvent

        loaders = info.context.loaders
        snapshots = await loaders.incident.load_many([m.incident_id for _, m in page.items])
        ranges = [SeqRange(m.incident_id, m.seq - 1, m.seq) for _, m in page.items]
        notes = await loaders.timeline.load_many(ranges)
        edges = []
        for (cursor, mention), snapshot, found in zip(page.items, snapshots, notes, strict=True):
            if snapshot is None or not found:
                continue
            note = TimelineEvent.of(
                found[0],
                clearance=loaders.clearance,
                incident_classification=snapshot.classification,
            )
            if note.redacted:
                continue
            incident = Incident.of(snapshot, clearance=loaders.clearance, loaders=loaders)
            edges.append(
                MentionEdge(
                    cursor=cursor,
                    node=Mention(
                        mentioned_at=mention.created_at,
                        by=note.actor,
                        incident=incident,
                        note=note,
                    ),
                )
            )
        await audit_reads(info, [e.node.incident.snapshot for e in edges], via="mentions")
        return cls(
            edges=edges,
            page_info=PageInfo.of_page([cursor for cursor, _ in page.items], page),
        )


@strawberry.type
class TeamMember:
    user: User
    role: TeamRole
    added_at: datetime


@strawberry.type
class Team(Node):
    id: strawberry.ID
    name: str
    tier: EscalationTier | None
    created_at: datetime
    updated_at: datetime
    key: strawberry.Private[str]

    @strawberry.field(description="The team's on-call rotations, by name.")  # type: ignore[untyped-decorator]
    async def rotations(
        self, info: Info[Context, Any]
    ) -> list[Annotated[Rotation, strawberry.lazy("app.schema.oncall")]]:
        from app.schema.oncall import Rotation

        views = await info.context.loaders.team_rotations.load(self.key)
        return [Rotation.of(v) for v in views]

    @strawberry.field(  # type: ignore[untyped-decorator]
        description="Who is on call in the team's rotations at `at` (default: now), one per "
        "rotation that has someone, without repeats."
    )
    async def on_call(self, info: Info[Context, Any], at: datetime | None = None) -> list[User]:
        loaders = info.context.loaders
        if at is not None and at.tzinfo is None:
            raise graphql_error(ValidationFailed("`at` needs a UTC offset", field="at"))
        entries = await loaders.team_on_call.load((self.key, at or loaders.now))
        views = await loaders.user.load_many(list(dict.fromkeys(e.user_id for e in entries)))
        return [User.of(v) for v in views if v is not None]

    @strawberry.field(description="Managers and leads first, then by when they joined.")  # type: ignore[untyped-decorator]
    async def members(self, info: Info[Context, Any]) -> list[TeamMember]:
        loaders = info.context.loaders
        members: list[MemberView] = await loaders.team_members.load(self.key)
        users = await loaders.user.load_many([m.user_id for m in members])
        return [
            TeamMember(user=User.of(u), role=m.role, added_at=m.added_at)
            for m, u in zip(members, users, strict=True)
            if u is not None
        ]

    @classmethod
    def of(cls, view: TeamView) -> Team:
        return cls(
            id=strawberry.ID(to_global_id(TEAM_PREFIX, view.id)),
            name=view.name,
            tier=view.tier,
            created_at=view.created_at,
            updated_at=view.updated_at,
            key=view.id,
        )


@strawberry.type
class UserEdge:
    cursor: str
    node: User


@strawberry.type
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class TeamEdge:
    cursor: str
    node: Team


@strawberry.type
class TeamConnection:
    edges: list[TeamEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class UserFilter:
    text: str | None = strawberry.field(
        default=None, description="Part of the handle, name or e-mail (any case)."
    )
    active: bool | None = None
    team_id: strawberry.ID | None = None


@strawberry.input
class TeamFilter:
    text: str | None = strawberry.field(default=None, description="Part of the name (any case).")
    tier: EscalationTier | None = None


@strawberry.input
class CreateUserInput:
    handle: str = strawberry.field(description="1-64 lower-case letters, digits, '.', '_', '-'.")
    name: str
    email: str
    time_zone: str = "UTC"
    phone: str | None = None
    chat_ids: JSON | None = None


@strawberry.input
class UpdateUserInput:
    id: strawberry.ID
    handle: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    time_zone: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    chat_ids: JSON | None = strawberry.UNSET


@strawberry.input
class DeactivateUserInput:
    id: strawberry.ID


@strawberry.type
class UserPayload:
    user: User | None
    errors: list[UserError]


@strawberry.input
class CreateTeamInput:
    name: str
    tier: EscalationTier | None = None


@strawberry.input
class UpdateTeamInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    tier: EscalationTier | None = strawberry.UNSET


@strawberry.input
class TeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID
    role: TeamRole = models.TeamRole.MEMBER


@strawberry.input
class RemoveTeamMemberInput:
    team_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.type
class TeamPayload:
    team: Team | None
    errors: list[UserError]
