"""Correlation rules: which alerts belong together, and what incident they declare.

A tenant's enabled rules are tried in position order; the first whose matchers all equal
the alert's labels wins and puts the alert in the group keyed by the rule and the values of
its `group_by` labels. A tenant without rules uses the built-in default rule. The matchers
see the alert's labels plus the pseudo-labels `alertname`, `service`, `severity` and
`source` (the normalised fields, which win over labels of the same name). When the service
catalog knows the alert's service (names compared regardless of case), `service` is the
catalog's name for it and `service_tier` its tier, so "API" and "api" group together and a
rule can match the services that matter most.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from app.core.text import unstorable
from app.errors import ValidationFailed
from app.models import CorrelationRule, Impact, Severity, Urgency

DEFAULT_RULE_ID = "default"
DEFAULT_TITLE_TEMPLATE = "{alertname} on {service}"

NAME_MAX = 255
TITLE_TEMPLATE_MAX = 255
LABEL_NAME_MAX = 255
MATCHER_VALUE_MAX = 1024
MATCHERS_MAX = 50
MATCHER_VALUES_MAX = 100
GROUP_BY_MAX = 20
WINDOW_MAX_SECONDS = 604_800
MIN_ALERTS_MAX = 1_000_000
GROUP_KEY_MAX = 1024

# What a title template may say: the alert's fields and any of its labels.
TEMPLATE_FIELDS = ("alertname", "service", "severity", "source", "title")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_MISSING = "unknown"

# The sender's severity label, lower-cased, to an incident severity; anything else is SEV3.
_SEVERITY_BY_LABEL = {
    "critical": Severity.SEV2,
    "error": Severity.SEV3,
    "high": Severity.SEV3,
    "major": Severity.SEV3,
    "warning": Severity.SEV4,
    "info": Severity.SEV4,
}
_PSEUDO_LABELS = ("alertname", "service", "severity", "source")
_E = TypeVar("_E", Severity, Impact, Urgency)


def severity_from_label(value: str | None) -> Severity:
    if value is None:
        return Severity.SEV3
    return _SEVERITY_BY_LABEL.get(value.strip().lower(), Severity.SEV3)


def alert_labels(alert: Mapping[str, Any]) -> dict[str, str]:
    """What matchers and group keys see: a normalised alert's labels and pseudo-labels."""
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    for name in _PSEUDO_LABELS:
        value = alert.get(name)
        if value is not None:
            labels[name] = str(value)
    return labels


def with_catalog(labels: dict[str, str], *, name: str, tier: str) -> None:
    """`labels` of an alert whose service the catalog knows as `name`, of `tier`."""
    labels["service"] = name
    labels["service_tier"] = tier


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    matchers: Mapping[str, tuple[str, ...]]
    group_by: tuple[str, ...]
    window_seconds: int
    auto_declare: bool = True
    min_alerts: int = 1
    # None: from each alert's severity label.
    severity: Severity | None = None
    impact: Impact = Impact.MEDIUM
    urgency: Urgency = Urgency.MEDIUM
    title_template: str | None = None
    _items: tuple[tuple[str, tuple[str, ...]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_items", tuple(self.matchers.items()))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(name) in values for name, values in self._items)

    def group_key(self, labels: Mapping[str, str]) -> str:
        values = json.dumps(
            [labels.get(name) for name in self.group_by], separators=(",", ":"), ensure_ascii=False
        )
        key = f"{self.id}:{values}"
        if len(key) > GROUP_KEY_MAX:
            # Still one group per distinct set of values, within the column's width.
            key = f"{self.id}:sha256:{hashlib.sha256(values.encode()).hexdigest()}"
        return key

    def title_for(self, alert: Mapping[str, Any]) -> str:
        title = render_title(self.title_template or DEFAULT_TITLE_TEMPLATE, alert)
        return title or str(alert.get("title") or "Alert")[:TITLE_TEMPLATE_MAX]


DEFAULT_RULE = Rule(
    id=DEFAULT_RULE_ID,
    name="default",
    matchers={},
    group_by=("service", "alertname"),
    window_seconds=3600,
    auto_declare=True,
    min_alerts=1,
    severity=None,
    impact=Impact.MEDIUM,
    urgency=Urgency.MEDIUM,
    title_template=DEFAULT_TITLE_TEMPLATE,
)


def match(rules: Sequence[Rule], labels: Mapping[str, str]) -> Rule | None:
    """The first rule that matches (rules in position order), or None."""
    for rule in rules:
        if rule.matches(labels):
            return rule
    return None


def render_title(template: str, alert: Mapping[str, Any]) -> str:
    """Fill a title template from a normalised alert; never raises.

    `{alertname}`, `{service}`, `{severity}`, `{source}`, `{title}` and `{labels.X}` are
    replaced (a missing value by "unknown"); anything else in braces is kept as written.
    The result is at most 255 characters, whitespace-trimmed.
    """
    labels = alert.get("labels") or {}

    def fill(found: re.Match[str]) -> str:
        name = found.group(1).strip()
        if name in TEMPLATE_FIELDS:
            value = alert.get(name)
        elif name.startswith("labels.") and len(name) > len("labels."):
            value = labels.get(name[len("labels.") :]) if isinstance(labels, Mapping) else None
        else:
            return found.group(0)
        text = "" if value is None else str(value).strip()
        return text or _MISSING

    try:
        rendered = _PLACEHOLDER.sub(fill, template)
    except Exception:  # a template is data: a bad one must never stop processing
        rendered = template
    rendered = " ".join(rendered.replace("\x00", "").split())
    return rendered[:TITLE_TEMPLATE_MAX].strip()


# --- loading --------------------------------------------------------------------------------


def rule_from_model(row: CorrelationRule) -> Rule:
    return rule_from_values(
        {
            "id": row.id,
            "name": row.name,
            "matchers": row.matchers,
            "group_by": row.group_by,
            "window_seconds": row.window_seconds,
            "auto_declare": row.auto_declare,
            "min_alerts": row.min_alerts,
            "severity": row.severity,
            "impact": row.impact,
            "urgency": row.urgency,
            "title_template": row.title_template,
        }
    )


def rule_from_values(row: Mapping[str, Any]) -> Rule:
    matchers: dict[str, tuple[str, ...]] = {}
    for name, value in (row["matchers"] or {}).items():
        values = value if isinstance(value, list) else [value]
        matchers[str(name)] = tuple(str(v) for v in values)
    return Rule(
        id=str(row["id"]),
        name=row["name"],
        matchers=matchers,
        group_by=tuple(str(n) for n in row["group_by"] or ()),
        window_seconds=int(row["window_seconds"]),
        auto_declare=bool(row["auto_declare"]),
        min_alerts=int(row["min_alerts"]),
        severity=Severity(row["severity"]) if row["severity"] else None,
        impact=Impact(row["impact"]),
        urgency=Urgency(row["urgency"]),
        title_template=row["title_template"],
    )


# A rule's own fields, as CorrelationRule's columns: what admins edit and what matching reads.
RULE_FIELDS = (
    "name",
    "matchers",
    "group_by",
    "window_seconds",
    "auto_declare",
    "min_alerts",
    "severity",
    "impact",
    "urgency",
    "title_template",
)
_RULE_COLUMNS = ("id", "tenant_id", *RULE_FIELDS)


async def load_rules(*, tenant_id: str) -> list[Rule]:
    """The tenant's enabled rules in matching order, or the default rule when it has none."""
    return (await load_rules_for(tenant_ids=[tenant_id]))[tenant_id]


async def load_rules_for(*, tenant_ids: Iterable[str]) -> dict[str, list[Rule]]:
    """`load_rules` for several tenants in one query."""
    wanted = sorted(set(tenant_ids))
    found: dict[str, list[Rule]] = {t: [] for t in wanted}
    if wanted:
        rows = (
            await CorrelationRule.filter(tenant_id__in=wanted, enabled=True)
            .order_by("position", "created_at", "id")
            .values(*_RULE_COLUMNS)
        )
        for row in rows:
            found[row["tenant_id"]].append(rule_from_values(row))
    return {t: rules or [DEFAULT_RULE] for t, rules in found.items()}


# --- validation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleFields:
    """A rule's fields after validation, named as CorrelationRule's columns."""

    name: str
    matchers: dict[str, str | list[str]]
    group_by: list[str]
    window_seconds: int
    auto_declare: bool
    min_alerts: int
    severity: Severity | None
    impact: Impact
    urgency: Urgency
    title_template: str | None

    def columns(self) -> dict[str, Any]:
        """Keyword arguments for CorrelationRule.create / .update."""
        return {
            "name": self.name,
            "matchers": self.matchers,
            "group_by": self.group_by,
            "window_seconds": self.window_seconds,
            "auto_declare": self.auto_declare,
            "min_alerts": self.min_alerts,
            "severity": self.severity.value if self.severity else None,
            "impact": self.impact.value,
            "urgency": self.urgency.value,
            "title_template": self.title_template,
        }


def validate_rule(
    *,
    name: str,
    matchers: Mapping[str, Any] | None,
    group_by: Sequence[str],
    window_seconds: int,
    auto_declare: bool = True,
    min_alerts: int = 1,
    severity: str | None = None,
    impact: str = Impact.MEDIUM,
    urgency: str = Urgency.MEDIUM,
    title_template: str | None = None,
) -> RuleFields:
    """Check a rule's fields; raises ValidationFailed naming the field (as GraphQL spells it:
    name, matchers, groupBy, windowSeconds, autoDeclare, minAlerts, severity, impact, urgency,
    titleTemplate). An update validates the rule as it would be after the change."""
    return RuleFields(
        name=_rule_name(name),
        matchers=_matchers(matchers),
        group_by=_group_by(group_by),
        window_seconds=_int_between(
            window_seconds, low=1, high=WINDOW_MAX_SECONDS, field="windowSeconds"
        ),
        auto_declare=_bool(auto_declare, field="autoDeclare"),
        min_alerts=_int_between(min_alerts, low=1, high=MIN_ALERTS_MAX, field="minAlerts"),
        severity=None if severity is None else _enum(Severity, severity, field="severity"),
        impact=_enum(Impact, impact, field="impact"),
        urgency=_enum(Urgency, urgency, field="urgency"),
        title_template=_title_template(title_template),
    )


def _text(value: object, *, field: str, maximum: int, what: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{what} must be a string", field=field)
    if unstorable(value) is not None:
        raise ValidationFailed(f"{what} must be valid text without NUL characters", field=field)
    text = value.strip()
    if not text:
        raise ValidationFailed(f"{what} must not be empty", field=field)
    if len(text) > maximum:
        raise ValidationFailed(f"{what} must be at most {maximum} characters", field=field)
    return text


def _rule_name(value: object) -> str:
    return _text(value, field="name", maximum=NAME_MAX, what="name")


def _label_name(value: object, *, field: str) -> str:
    name = _text(value, field=field, maximum=LABEL_NAME_MAX, what="a label name")
    if name != value:
        raise ValidationFailed(
            f"label name {value!r} must not start or end with whitespace", field=field
        )
    return name


def _matchers(value: Mapping[str, Any] | None) -> dict[str, str | list[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationFailed(
            "matchers must be an object of label names to a value or a list of values, "
            'e.g. {"service": "api", "severity": ["critical", "error"]}',
            field="matchers",
        )
    if len(value) > MATCHERS_MAX:
        raise ValidationFailed(f"at most {MATCHERS_MAX} matchers", field="matchers")
    clean: dict[str, str | list[str]] = {}
    for label, wanted in value.items():
        name = _label_name(label, field="matchers")
        if isinstance(wanted, str):
            clean[name] = _matcher_value(wanted, label=name)
        elif isinstance(wanted, list):
            if not wanted:
                raise ValidationFailed(
                    f"matcher {name!r} needs at least one value", field="matchers"
                )
            if len(wanted) > MATCHER_VALUES_MAX:
                raise ValidationFailed(
                    f"matcher {name!r} may list at most {MATCHER_VALUES_MAX} values",
                    field="matchers",
                )
            clean[name] = [_matcher_value(v, label=name) for v in wanted]
        else:
            raise ValidationFailed(
                f"matcher {name!r} must be a string or a list of strings", field="matchers"
            )
    return clean


def _matcher_value(value: object, *, label: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(
            f"matcher {label!r} must be a string or a list of strings", field="matchers"
        )
    if "\x00" in value or len(value) > MATCHER_VALUE_MAX:
        raise ValidationFailed(
            f"matcher {label!r} values must be at most {MATCHER_VALUE_MAX} characters, without NUL",
            field="matchers",
        )
    return value


def _group_by(value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValidationFailed("groupBy must be a list of label names", field="groupBy")
    if not value:
        raise ValidationFailed("groupBy needs at least one label name", field="groupBy")
    if len(value) > GROUP_BY_MAX:
        raise ValidationFailed(f"groupBy may name at most {GROUP_BY_MAX} labels", field="groupBy")
    names = [_label_name(v, field="groupBy") for v in value]
    if len(set(names)) != len(names):
        raise ValidationFailed("groupBy names a label twice", field="groupBy")
    return names


def _int_between(value: object, *, low: int, high: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{field} must be a whole number", field=field)
    if not low <= value <= high:
        raise ValidationFailed(f"{field} must be between {low} and {high}", field=field)
    return value


def _bool(value: object, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", field=field)
    return value


def _enum(kind: type[_E], value: object, *, field: str) -> _E:
    raw = value.value if isinstance(value, Enum) else value
    try:
        return kind(str(raw)) if isinstance(raw, str) else kind("")
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise ValidationFailed(f"{field} must be one of {names}", field=field) from None


def _title_template(value: str | None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    template = _text(value, field="titleTemplate", maximum=TITLE_TEMPLATE_MAX, what="titleTemplate")
    for found in _PLACEHOLDER.finditer(template):
        name = found.group(1).strip()
        known = name in TEMPLATE_FIELDS or (
            name.startswith("labels.") and len(name) > len("labels.")
        )
        if not known:
            raise ValidationFailed(
                f"titleTemplate: unknown placeholder {found.group(0)}; use "
                + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                + " or {labels.NAME}",
                field="titleTemplate",
            )
    return template
