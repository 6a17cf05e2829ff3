"""What happens in a response beside its tasks: the tools people used, and how a drill
went. Each is an event on the incident's timeline."""

from __future__ import annotations

from enum import StrEnum

from app.errors import ValidationFailed
from app.services.access.caller import Caller
from app.services.incidents import commands as incident_commands
from app.services.incidents import validation
from app.services.incidents.commands import CommandResult
from app.services.incidents.snapshot import IncidentSnapshot
from app.services.incidents.timeline import NewEvent

TOOL_USED = "com.incidents.tool.used.v1"
DRILL_OUTCOME = "com.incidents.drill.outcome_recorded.v1"
SUMMARY_MAX = 4000


class Tool(StrEnum):
    MONITORING = "MONITORING"  # dashboards and checks (Grafana, Datadog, Nagios)
    LOGS = "LOGS"  # log search (Kibana, Loki, Splunk)
    TRACING = "TRACING"  # distributed traces, APM
    DIAGNOSTICS = "DIAGNOSTICS"  # ping, traceroute, packet capture, profilers
    REMOTE_ACCESS = "REMOTE_ACCESS"  # ssh, bastions, remote desktop
    DEPLOYMENT = "DEPLOYMENT"  # CI/CD, rollbacks, feature flags
    CONFIGURATION = "CONFIGURATION"  # configuration management, infrastructure as code
    DATABASE_CONSOLE = "DATABASE_CONSOLE"
    CLOUD_CONSOLE = "CLOUD_CONSOLE"
    RUNBOOK = "RUNBOOK"  # a runbook or knowledge article followed
    VENDOR_PORTAL = "VENDOR_PORTAL"
    OTHER = "OTHER"


class ToolOutcome(StrEnum):
    HELPED = "HELPED"  # it found or fixed something
    NO_EFFECT = "NO_EFFECT"
    MADE_WORSE = "MADE_WORSE"
    INCONCLUSIVE = "INCONCLUSIVE"


def _summary(value: str, *, field: str) -> str:
    text = validation.text(value, field=field, required=True)
    assert text is not None
    if len(text) > SUMMARY_MAX:
        raise ValidationFailed(f"{field} must be at most {SUMMARY_MAX} characters", field=field)
    return text


async def record_tool_usage(
    *, caller: Caller, incident_id: str, tool: Tool, summary: str, outcome: ToolOutcome
) -> CommandResult:
    """Record that a tool was used on the incident (not CLOSED or CANCELLED), and to what
    effect."""
    text = _summary(summary, field="summary")
    event = NewEvent(
        type=TOOL_USED, data={"tool": tool.value, "summary": text, "outcome": outcome.value}
    )
    return await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=[event], open_only=True
    )


async def record_drill_outcome(
    *, caller: Caller, incident_id: str, outcome: str, passed: bool
) -> CommandResult:
    """How a drill went (again later: the newest stands); VALIDATION on a real incident."""
    text = _summary(outcome, field="outcome")
    fields = {"drill_outcome": text}

    async def decide(incident: IncidentSnapshot) -> list[NewEvent]:
        if not incident.is_drill:
            raise ValidationFailed("this incident is not a drill", field="incidentId")
        return [NewEvent(type=DRILL_OUTCOME, data={"outcome": text, "passed": passed})]

    return await incident_commands.append_events(
        caller=caller, incident_id=incident_id, events=decide, fields=fields
    )
