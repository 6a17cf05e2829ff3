"""DataLoaders, one class per relation; a fresh set per request and per subscription event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property

from strawberry.dataloader import DataLoader

from app.core.clock import utcnow
from app.models import Classification
from app.services.access import audit
from app.services.access.classification import incident_visible
from app.services.alerts.queries import (
    AlertView,
    IncidentPage,
    IncidentPageKey,
    count_by_incident,
    get_alerts,
    incident_pages,
)
from app.services.boards.status_board import Board, Persona, build_incident_boards
from app.services.catalog import queries as catalog
from app.services.catalog.graph import ServiceHealth
from app.services.catalog.queries import ServiceView
from app.services.changes import queries as change_queries
from app.services.changes.commands import ChangeView
from app.services.changes.queries import LinkView
from app.services.comms import reviews
from app.services.comms.reviews import ActionItemView, ReviewView
from app.services.incidents.snapshot import IncidentSnapshot, get_incidents
from app.services.incidents.timeline import (
    EventRecord,
    FilteredPage,
    FilteredRange,
    SeqRange,
    load_filtered,
    load_ranges,
)
from app.services.itsm.tickets import TicketView, tickets_of
from app.services.knowledge import search as knowledge
from app.services.knowledge.commands import ArticleView
from app.services.knowledge.search import VersionView
from app.services.people import oncall, teams, users
from app.services.people.oncall import OnCall, RotationView
from app.services.people.teams import MemberView, TeamView
from app.services.people.users import UserView
from app.services.problems import queries as problem_queries
from app.services.problems.view import ProblemView
from app.services.records import timeline as record_timeline
from app.services.records.timeline import RecordEventView
from app.services.response import roles, tasks, vendors
from app.services.response.roles import RoleView
from app.services.response.tasks import TaskView
from app.services.response.vendors import EngagementView


class Loaders:
    """Built on first use: a subscription event that reads nothing costs nothing."""

    def __init__(self, tenant_id: str, clearance: Classification) -> None:
        self.tenant_id = tenant_id
        self.clearance = clearance

    @cached_property
    def user(self) -> DataLoader[str, UserView | None]:
        return DataLoader(self._users)

    @cached_property
    def team(self) -> DataLoader[str, TeamView | None]:
        return DataLoader(self._teams)

    @cached_property
    def user_teams(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._user_teams)

    @cached_property
    def team_members(self) -> DataLoader[str, list[MemberView]]:
        return DataLoader(self._team_members)

    @cached_property
    def now(self) -> datetime:
        """The one instant this request means by "now" (who is on call now, in every team)."""
        return utcnow()

    @cached_property
    def problem(self) -> DataLoader[str, ProblemView | None]:
        return DataLoader(self._problems)

    @cached_property
    def incident_problems(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._incident_problems)

    @cached_property
    def problem_incidents(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._problem_incidents)

    @cached_property
    def problem_services(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._problem_services)

    @cached_property
    def record_events(self) -> DataLoader[str, list[RecordEventView]]:
        return DataLoader(self._record_events)

    @cached_property
    def change(self) -> DataLoader[str, ChangeView | None]:
        return DataLoader(self._changes)

    @cached_property
    def change_links(self) -> DataLoader[str, list[LinkView]]:
        """A change's links to incidents and problems."""
        return DataLoader(self._change_links)

    @cached_property
    def incident_changes(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._incident_changes)

    @cached_property
    def change_services(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._change_services)

    @cached_property
    def article(self) -> DataLoader[str, ArticleView | None]:
        return DataLoader(self._articles)

    @cached_property
    def article_versions(self) -> DataLoader[str, list[VersionView]]:
        return DataLoader(self._article_versions)

    @cached_property
    def incident_articles(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._incident_articles)

    @cached_property
    def problem_articles(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._problem_articles)

    @cached_property
    def service(self) -> DataLoader[str, ServiceView | None]:
        return DataLoader(self._services)

    @cached_property
    def service_dependencies(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._service_dependencies)

    @cached_property
    def service_health(self) -> DataLoader[str, ServiceHealth]:
        return DataLoader(self._service_health)

    @cached_property
    def incident_services(self) -> DataLoader[str, list[str]]:
        return DataLoader(self._incident_services)

    @cached_property
    def incident_roles(self) -> DataLoader[str, list[RoleView]]:
        return DataLoader(self._incident_roles)

    @cached_property
    def incident_review(self) -> DataLoader[str, ReviewView | None]:
        return DataLoader(self._incident_reviews)

    @cached_property
    def incident_action_items(self) -> DataLoader[str, list[ActionItemView]]:
        return DataLoader(self._incident_action_items)

    @cached_property
    def incident_vendors(self) -> DataLoader[str, list[EngagementView]]:
        return DataLoader(self._incident_vendors)

    @cached_property
    def incident_tasks(self) -> DataLoader[str, list[TaskView]]:
        return DataLoader(self._incident_tasks)

    @cached_property
    def task(self) -> DataLoader[str, TaskView | None]:
        """Tasks by id, whatever their incident: the caller checks the incident."""
        return DataLoader(self._tasks)

    @cached_property
    def rotation(self) -> DataLoader[str, RotationView | None]:
        return DataLoader(self._rotations)

    @cached_property
    def team_rotations(self) -> DataLoader[str, list[RotationView]]:
        return DataLoader(self._team_rotations)

    @cached_property
    def team_on_call(self) -> DataLoader[tuple[str, datetime], list[OnCall]]:
        """Who is on call in a team at an instant: one pair of reads per instant asked."""
        return DataLoader(self._team_on_call)

    @cached_property
    def incident(self) -> DataLoader[str, IncidentSnapshot | None]:
        return DataLoader(self._incidents)

    @cached_property
    def timeline(self) -> DataLoader[SeqRange, list[EventRecord]]:
        return DataLoader(self._timeline)

    @cached_property
    def filtered_timeline(self) -> DataLoader[FilteredRange, FilteredPage]:
        return DataLoader(self._filtered_timeline)

    @cached_property
    def tickets(self) -> DataLoader[str, list[TicketView]]:
        return DataLoader(self._tickets)

    @cached_property
    def incident_board(self) -> DataLoader[tuple[Persona, str], Board]:
        """One incident's board per key: a page of incidents' boards costs one board's reads."""
        return DataLoader(self._incident_boards)

    @cached_property
    def incident_board_read(self) -> DataLoader[str, None]:
        """Audits the restricted incidents read through their boards, all in one write; not
        cached, like alert_incident_read, and used from the caller's own loaders only."""
        return DataLoader(self._audit_board_reads, cache=False)

    @cached_property
    def alert(self) -> DataLoader[str, AlertView | None]:
        return DataLoader(self._alerts)

    @cached_property
    def incident_alert_page(self) -> DataLoader[IncidentPageKey, IncidentPage]:
        return DataLoader(self._incident_alert_pages)

    @cached_property
    def incident_alert_count(self) -> DataLoader[str, int]:
        return DataLoader(self._incident_alert_counts)

    @cached_property
    def alert_incident_read(self) -> DataLoader[str, None]:
        """Audits the restricted incidents read through alerts: one write for all the
        alerts resolved together, each incident once. Not cached, so a connection's next
        subscription event is audited again; use the caller's own loaders (info.context),
        never an event's shared ones, so that every reader is recorded as themselves."""
        return DataLoader(self._audit_alert_incident_reads, cache=False)

    async def _audit_alert_incident_reads(self, keys: Sequence[str]) -> list[None]:
        await audit.record_reads(tenant_id=self.tenant_id, targets=keys, via="alert")
        return [None for _ in keys]

    async def _audit_board_reads(self, keys: Sequence[str]) -> list[None]:
        await audit.record_reads(tenant_id=self.tenant_id, targets=keys, via="Incident.statusBoard")
        return [None for _ in keys]

    async def _incident_boards(self, keys: Sequence[tuple[Persona, str]]) -> list[Board]:
        by_persona: dict[Persona, list[str]] = {}
        for persona, incident_id in keys:
            by_persona.setdefault(persona, []).append(incident_id)
        found: dict[tuple[Persona, str], Board] = {}
        for persona, incident_ids in by_persona.items():
            boards = await build_incident_boards(
                tenant_id=self.tenant_id,
                persona=persona,
                clearance=self.clearance,
                incident_ids=incident_ids,
            )
            found.update(((persona, k), board) for k, board in boards.items())
        return [found[k] for k in keys]

    async def _alerts(self, keys: Sequence[str]) -> list[AlertView | None]:
        found = await get_alerts(tenant_id=self.tenant_id, alert_ids=keys)
        # An alert exists for the caller only where its incident does.
        linked = sorted({a.incident_id for a in found.values() if a.incident_id is not None})
        incidents = dict(zip(linked, await self.incident.load_many(linked), strict=True))
        return [
            a if a is not None and (a.incident_id is None or incidents[a.incident_id]) else None
            for a in (found.get(k) for k in keys)
        ]

    async def _incident_alert_pages(self, keys: Sequence[IncidentPageKey]) -> list[IncidentPage]:
        found = await incident_pages(tenant_id=self.tenant_id, keys=keys)
        return [found[k] for k in keys]

    async def _incident_alert_counts(self, keys: Sequence[str]) -> list[int]:
        found = await count_by_incident(tenant_id=self.tenant_id, incident_ids=keys)
        return [found[k] for k in keys]

    async def _tickets(self, keys: Sequence[str]) -> list[list[TicketView]]:
        found = await tickets_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incidents(self, keys: Sequence[str]) -> list[IncidentSnapshot | None]:
        found = await get_incidents(tenant_id=self.tenant_id, incident_ids=keys)
        return [
            s if s is not None and incident_visible(self.clearance, s.classification) else None
            for s in (found.get(k) for k in keys)
        ]

    async def _timeline(self, keys: Sequence[SeqRange]) -> list[list[EventRecord]]:
        found = await load_ranges(tenant_id=self.tenant_id, ranges=keys)
        return [found[k] for k in keys]

    async def _filtered_timeline(self, keys: Sequence[FilteredRange]) -> list[FilteredPage]:
        found = await load_filtered(tenant_id=self.tenant_id, ranges=keys)
        return [found[k] for k in keys]

    async def _users(self, keys: Sequence[str]) -> list[UserView | None]:
        found = await users.get_users(tenant_id=self.tenant_id, user_ids=keys)
        return [found.get(k) for k in keys]

    async def _teams(self, keys: Sequence[str]) -> list[TeamView | None]:
        found = await teams.get_teams(tenant_id=self.tenant_id, team_ids=keys)
        return [found.get(k) for k in keys]

    async def _user_teams(self, keys: Sequence[str]) -> list[list[str]]:
        found = await users.memberships_of(user_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _articles(self, keys: Sequence[str]) -> list[ArticleView | None]:
        found = await knowledge.get_articles(
            tenant_id=self.tenant_id, article_ids=keys, clearance=self.clearance
        )
        return [found.get(k) for k in keys]

    async def _article_versions(self, keys: Sequence[str]) -> list[list[VersionView]]:
        found = await knowledge.versions_of(article_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incident_articles(self, keys: Sequence[str]) -> list[list[str]]:
        found = await knowledge.articles_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _problem_articles(self, keys: Sequence[str]) -> list[list[str]]:
        found = await knowledge.articles_of(tenant_id=self.tenant_id, problem_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _changes(self, keys: Sequence[str]) -> list[ChangeView | None]:
        found = await change_queries.get_changes(
            tenant_id=self.tenant_id, change_ids=keys, clearance=self.clearance
        )
        return [found.get(k) for k in keys]

    async def _change_links(self, keys: Sequence[str]) -> list[list[LinkView]]:
        found: dict[str, list[LinkView]] = {k: [] for k in keys}
        for link in await change_queries.links_of(tenant_id=self.tenant_id, change_ids=keys):
            found[link.change_id].append(link)
        return [found[k] for k in keys]

    async def _incident_changes(self, keys: Sequence[str]) -> list[list[str]]:
        found: dict[str, list[str]] = {k: [] for k in keys}
        for link in await change_queries.links_of(tenant_id=self.tenant_id, incident_ids=keys):
            if link.incident_id in found:
                found[link.incident_id].append(link.change_id)
        return [found[k] for k in keys]

    async def _change_services(self, keys: Sequence[str]) -> list[list[str]]:
        found = await change_queries.services_of_changes(change_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _problems(self, keys: Sequence[str]) -> list[ProblemView | None]:
        found = await problem_queries.get_problems(
            tenant_id=self.tenant_id, problem_ids=keys, clearance=self.clearance
        )
        return [found.get(k) for k in keys]

    async def _incident_problems(self, keys: Sequence[str]) -> list[list[str]]:
        found = await problem_queries.problems_of_incidents(
            tenant_id=self.tenant_id, incident_ids=keys
        )
        return [found.get(k, []) for k in keys]

    async def _problem_incidents(self, keys: Sequence[str]) -> list[list[str]]:
        found = await problem_queries.incidents_of_problems(problem_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _problem_services(self, keys: Sequence[str]) -> list[list[str]]:
        found = await problem_queries.services_of_problems(problem_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _record_events(self, keys: Sequence[str]) -> list[list[RecordEventView]]:
        found = await record_timeline.events_of(tenant_id=self.tenant_id, record_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _services(self, keys: Sequence[str]) -> list[ServiceView | None]:
        found = await catalog.get_services(tenant_id=self.tenant_id, service_ids=keys)
        return [found.get(k) for k in keys]

    async def _service_dependencies(self, keys: Sequence[str]) -> list[list[str]]:
        found = await catalog.dependencies_of(service_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _service_health(self, keys: Sequence[str]) -> list[ServiceHealth]:
        found = await catalog.health(
            tenant_id=self.tenant_id, service_ids=keys, clearance=self.clearance
        )
        return [found[k] for k in keys]

    async def _incident_services(self, keys: Sequence[str]) -> list[list[str]]:
        found = await catalog.services_of_incidents(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incident_roles(self, keys: Sequence[str]) -> list[list[RoleView]]:
        found = await roles.roles_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incident_reviews(self, keys: Sequence[str]) -> list[ReviewView | None]:
        found = await reviews.reviews_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k) for k in keys]

    async def _incident_action_items(self, keys: Sequence[str]) -> list[list[ActionItemView]]:
        found = await reviews.action_items_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incident_vendors(self, keys: Sequence[str]) -> list[list[EngagementView]]:
        found = await vendors.engagements_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _incident_tasks(self, keys: Sequence[str]) -> list[list[TaskView]]:
        found = await tasks.tasks_of(tenant_id=self.tenant_id, incident_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _tasks(self, keys: Sequence[str]) -> list[TaskView | None]:
        found = await tasks.get_tasks(tenant_id=self.tenant_id, task_ids=keys)
        return [found.get(k) for k in keys]

    async def _rotations(self, keys: Sequence[str]) -> list[RotationView | None]:
        found = await oncall.get_rotations(tenant_id=self.tenant_id, rotation_ids=keys)
        return [found.get(k) for k in keys]

    async def _team_rotations(self, keys: Sequence[str]) -> list[list[RotationView]]:
        found = await oncall.rotations_of(tenant_id=self.tenant_id, team_ids=keys)
        return [found.get(k, []) for k in keys]

    async def _team_on_call(self, keys: Sequence[tuple[str, datetime]]) -> list[list[OnCall]]:
        by_instant: dict[datetime, list[str]] = {}
        for team_id, at in keys:
            by_instant.setdefault(at, []).append(team_id)
        found: dict[tuple[str, datetime], list[OnCall]] = {}
        for at, team_ids in by_instant.items():
            for entry in await oncall.on_call(tenant_id=self.tenant_id, at=at, team_ids=team_ids):
                found.setdefault((entry.team_id, at), []).append(entry)
        return [found.get(k, []) for k in keys]

    async def _team_members(self, keys: Sequence[str]) -> list[list[MemberView]]:
        found = await teams.members_of(team_ids=keys)
        return [found.get(k, []) for k in keys]
