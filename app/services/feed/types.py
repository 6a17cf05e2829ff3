"""The event types the feed knows, and the filter a reader follows it with.

Every domain declares its event types as constants where it writes them; `known_types`
gathers them from those modules, so a filter naming a type nobody writes is refused
instead of matching nothing for ever (tests/unit/test_feed_types.py holds the list to
every type string in the code).
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise.expressions import Q

from app.errors import ValidationFailed
from app.services import filtering
from app.services.feed.subjects import parse_subject

_MODULES = (
    "app.services.incidents.timeline",
    "app.services.incidents.cadence",
    "app.services.incidents.sla_marks",
    "app.services.problems.commands",
    "app.services.changes.commands",
    "app.services.knowledge.commands",
    "app.services.catalog.services",
    "app.services.response.activity",
    "app.services.response.vendors",
    "app.services.response.playbooks",
    "app.services.response.escalation",
    "app.services.response.roles",
    "app.services.response.tasks",
    "app.services.comms.sending",
    "app.services.comms.reviews",
    "app.services.comms.communications",
    "app.services.comms.reminders",
    "app.services.chatops.threads",
)
_TYPE = re.compile(r"com\.incidents\.[a-z0-9_.]+\.v[0-9]+")
# A linked ticket's changes, one type per provider.
_PROVIDER = re.compile(r"com\.incidents\.provider\.[a-z0-9_]+\.ingested\.v[0-9]+")
MAX_TYPES = 100
MAX_SUBJECTS = 100


def _constants(namespace: dict[str, object]) -> Iterable[str]:
    for value in namespace.values():
        if isinstance(value, str) and _TYPE.fullmatch(value):
            yield value
        elif isinstance(value, type):
            yield from _constants(dict(vars(value)))


@functools.cache
def known_types() -> frozenset[str]:
    found: set[str] = set()
    for name in _MODULES:
        found.update(_constants(dict(vars(importlib.import_module(name)))))
    return frozenset(found)


def is_known(type: str) -> bool:
    return type in known_types() or _PROVIDER.fullmatch(type) is not None


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """Which events a reader follows: all of them when every part is empty. `types` are
    exact types or prefixes ending in `*` (`com.incidents.problem.*`); `subjects` are
    CloudEvents subjects (`incidents/inc_...`); `since`: events at or after that time."""

    types: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    since: datetime | None = None
    # The incidents' and records' ids the subjects name.
    record_ids: frozenset[str] = frozenset()
    and_: tuple[FeedFilter, ...] = ()
    or_: tuple[FeedFilter, ...] = ()
    not_: FeedFilter | None = None

    @property
    def exact_types(self) -> list[str]:
        return [t for t in self.types if not t.endswith("*")]

    @property
    def prefixes(self) -> list[str]:
        return [t[:-1] for t in self.types if t.endswith("*")]

    def matches_type(self, type: str) -> bool:
        if not self.types:
            return True
        return type in self.types or any(type.startswith(p) for p in self.prefixes)

    def matches(self, type: str, record_id: str, time: datetime) -> bool:
        return filtering.evaluate(self, lambda f: f._own_match(type, record_id, time))

    def _own_match(self, type: str, record_id: str, time: datetime) -> bool:
        return (
            self.matches_type(type)
            and (not self.record_ids or record_id in self.record_ids)
            and (self.since is None or time >= self.since)
        )

    def q(self) -> Q | None:
        """The filter as SQL on the feed's entries (the in-memory reading is `matches`)."""
        return filtering.to_q(self, FeedFilter._own_q)

    def _own_q(self) -> Q | None:
        parts: list[Q | None] = []
        if self.types:
            conditions = [Q(type__in=self.exact_types)] if self.exact_types else []
            conditions += [Q(type__startswith=prefix) for prefix in self.prefixes]
            parts.append(Q(*conditions, join_type="OR"))
        if self.record_ids:
            parts.append(Q(record_id__in=sorted(self.record_ids)))
        if self.since is not None:
            parts.append(Q(time__gte=self.since))
        return filtering.all_of(*parts)


def feed_filter(
    *,
    types: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    since: datetime | None = None,
    field: str | None = "filter",
    and_: Sequence[FeedFilter] = (),
    or_: Sequence[FeedFilter] = (),
    not_: FeedFilter | None = None,
) -> FeedFilter:
    """A checked filter: every type known (or a prefix of one), at most MAX_TYPES types and
    MAX_SUBJECTS subjects; VALIDATION naming what is wrong otherwise."""

    def named(part: str) -> str:
        return f"{field}.{part}" if field else part

    wanted = tuple(dict.fromkeys(t.strip() for t in types or () if t.strip()))
    if len(wanted) > MAX_TYPES:
        raise ValidationFailed(f"at most {MAX_TYPES} types", field=named("types"))
    unknown = [t for t in wanted if not _known_pattern(t)]
    if unknown:
        raise ValidationFailed(
            "unknown event types: " + ", ".join(repr(t) for t in unknown[:10]),
            field=named("types"),
        )
    chosen = tuple(dict.fromkeys(s.strip() for s in subjects or () if s.strip()))
    if len(chosen) > MAX_SUBJECTS:
        raise ValidationFailed(f"at most {MAX_SUBJECTS} subjects", field=named("subjects"))
    ids = frozenset(parse_subject(s, field=named("subjects"))[1] for s in chosen)
    return FeedFilter(
        types=wanted,
        subjects=chosen,
        since=since,
        record_ids=ids,
        and_=tuple(and_),
        or_=tuple(or_),
        not_=not_,
    )


def _known_pattern(type: str) -> bool:
    if not type.endswith("*"):
        return is_known(type)
    prefix = type[:-1]
    if not prefix.startswith("com.incidents."):
        return False
    return prefix.startswith("com.incidents.provider.") or any(
        t.startswith(prefix) for t in known_types()
    )
