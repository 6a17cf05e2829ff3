"""Field mapping between an incident and a provider's ticket, with each field's rules.

Five incident fields can be synced: title, description, urgency, impact and status. Each
provider has defaults (DEFAULTS); a connection may override any part per field: the provider's
field name, the value map, who owns the field (`SourceOfTruth`) and what happens when both
sides changed it since the last sync (`ConflictPolicy`). Values are compared in the
provider's terms, normalised to text (`normalise`), so a lossy value map (ESCALATED and
MITIGATED both map to ServiceNow's In Progress) never reads as a change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from app.errors import ValidationFailed
from app.models import ItsmProvider


class SyncedField(StrEnum):
    TITLE = "title"
    DESCRIPTION = "description"
    URGENCY = "urgency"
    IMPACT = "impact"
    STATUS = "status"


class SourceOfTruth(StrEnum):
    INTERNAL = "internal"  # incidentgraph writes it; changes made in the provider are reverted
    EXTERNAL = "external"  # the provider writes it; incidentgraph follows
    BIDIRECTIONAL = "bidirectional"  # either side; the conflict policy settles a clash


class ConflictPolicy(StrEnum):
    INTERNAL_WINS = "internal_wins"
    EXTERNAL_WINS = "external_wins"
    MOST_RECENT_ALLOWED = "most_recent_allowed"
    STATE_MACHINE = "state_machine"
    MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class FieldRule:
    external: str  # the provider's field name
    # incident value (enum name) -> provider value; empty for free text
    values: Mapping[str, str] = field(default_factory=dict)
    source: SourceOfTruth = SourceOfTruth.BIDIRECTIONAL
    policy: ConflictPolicy = ConflictPolicy.MOST_RECENT_ALLOWED
    # provider value -> incident value, where the inverse of `values` is ambiguous
    inbound: Mapping[str, str] = field(default_factory=dict)

    def to_external(self, internal: str | None) -> str | None:
        if internal is None or not self.values:
            return internal
        return self.values.get(internal)

    def to_internal(self, external: str | None) -> str | None:
        """The incident value for a provider value; None when it maps to nothing."""
        if external is None or not self.values:
            return external
        if external in self.inbound:
            return self.inbound[external]
        for internal, value in self.values.items():
            if value == external:
                return internal
        return None


_LEVELS_SN = {"HIGH": "1", "MEDIUM": "2", "LOW": "3"}

DEFAULTS: dict[ItsmProvider, dict[SyncedField, FieldRule]] = {
    ItsmProvider.SERVICENOW: {
        SyncedField.TITLE: FieldRule("short_description"),
        SyncedField.DESCRIPTION: FieldRule("description"),
        SyncedField.URGENCY: FieldRule("urgency", _LEVELS_SN),
        SyncedField.IMPACT: FieldRule("impact", _LEVELS_SN),
        SyncedField.STATUS: FieldRule(
            "state",
            {
                "OPEN": "1",  # New
                "IN_PROGRESS": "2",
                "PENDING": "3",  # On Hold
                "ESCALATED": "2",
                "MITIGATED": "2",
                "RESOLVED": "6",
                "CLOSED": "7",
                "CANCELLED": "8",
            },
            policy=ConflictPolicy.STATE_MACHINE,
            inbound={"2": "IN_PROGRESS"},
        ),
    },
    ItsmProvider.JIRA: {
        SyncedField.TITLE: FieldRule("summary"),
        SyncedField.DESCRIPTION: FieldRule("description"),
        SyncedField.URGENCY: FieldRule(
            "priority", {"HIGH": "High", "MEDIUM": "Medium", "LOW": "Low"}
        ),
        SyncedField.STATUS: FieldRule(
            "status",
            {
                "OPEN": "Open",
                "IN_PROGRESS": "In Progress",
                "PENDING": "Pending",
                "ESCALATED": "In Progress",
                "MITIGATED": "In Progress",
                "RESOLVED": "Resolved",
                "CLOSED": "Closed",
                "CANCELLED": "Canceled",
            },
            policy=ConflictPolicy.STATE_MACHINE,
            inbound={"In Progress": "IN_PROGRESS"},
        ),
    },
}


def rules_for(provider: ItsmProvider, overrides: Mapping[str, Any]) -> dict[SyncedField, FieldRule]:
    """The provider's defaults with a connection's overrides applied ({} for none).

    An override `{"disabled": true}` stops syncing the field.
    """
    rules = dict(DEFAULTS[provider])
    for name, raw in overrides.items():
        synced = SyncedField(name)
        if raw.get("disabled"):
            rules.pop(synced, None)
            continue
        base = rules.get(synced) or FieldRule(raw.get("external") or name)
        values = raw.get("values")
        rules[synced] = replace(
            base,
            external=raw.get("external") or base.external,
            values=dict(values) if values is not None else base.values,
            inbound={} if values is not None else base.inbound,
            source=SourceOfTruth(raw["source"]) if raw.get("source") else base.source,
            policy=ConflictPolicy(raw["policy"]) if raw.get("policy") else base.policy,
        )
    return rules


def validate_override(name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stored override, checked: enum values must be incident values of that field."""
    from app.models import Impact, IncidentStatus, Urgency

    enums: dict[str, Any] = {"urgency": Urgency, "impact": Impact, "status": IncidentStatus}
    out: dict[str, Any] = {}
    if raw.get("disabled"):
        return {"disabled": True}
    if raw.get("external"):
        external = str(raw["external"]).strip()
        if not external or len(external) > 128:
            raise ValidationFailed("external field name must be 1 to 128 characters", field=name)
        out["external"] = external
    if raw.get("values") is not None:
        allowed = {e.value for e in enums[name]} if name in enums else None
        if allowed is None:
            raise ValidationFailed(f"{name} is free text: it takes no value map", field=name)
        values = dict(raw["values"])
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ValidationFailed(f"unknown {name} values: {', '.join(unknown)}", field=name)
        out["values"] = {k: str(v) for k, v in values.items()}
    for key in ("source", "policy"):
        if raw.get(key):
            out[key] = str(raw[key])
    return out


def internal_values(snapshot: Any, rules: Mapping[SyncedField, FieldRule]) -> dict[str, str | None]:
    """The incident's synced fields as text (enum names for enums)."""
    out: dict[str, str | None] = {}
    for synced in rules:
        value = getattr(snapshot, synced.value)
        out[synced.value] = value.value if hasattr(value, "value") else value
    return out


def normalise(raw: Any) -> str | None:
    """A provider's raw value as comparable text: Jira's {"name": ...} objects and ADF
    documents included."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        if "name" in raw:
            return normalise(raw["name"])
        if raw.get("type") == "doc":
            return adf_to_text(raw) or None
        if "value" in raw:
            return normalise(raw["value"])
        return None
    text = str(raw)
    return text if text != "" else None


def adf_to_text(node: Mapping[str, Any]) -> str:
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_to_text(child) for child in node.get("content", ()) if isinstance(child, dict)]
    joiner = "\n" if node.get("type") == "doc" else ""
    return joiner.join(parts)


def to_provider_fields(
    rules: Mapping[SyncedField, FieldRule], values: Mapping[str, str | None]
) -> dict[str, Any]:
    """Provider values (as `to_external` gives them) under the provider's field names; the
    connectors shape them further (Jira's ADF, {"name": ...} objects and transitions)."""
    return {
        rule.external: values[synced.value] or ""
        for synced, rule in rules.items()
        if synced.value in values
    }
