"""Committed artifacts stay in step with the code."""

from __future__ import annotations

from app.database import make_migrations
from app.schema.export import sdl
from tests.support import ROOT


def test_committed_schema_matches_the_code():
    # given the SDL in the repository
    committed = (ROOT / "schema.graphql").read_text()

    # then it is exactly what the code builds (regenerate with `make schema`)
    assert committed == sdl()


async def test_models_need_no_migration_beyond_those_checked_in():
    # when the migration autodetector compares models with app/migrations
    pending = await make_migrations(write=False)

    # then there is nothing to generate (run `make migrations` and commit the file)
    assert pending == []


def test_schema_names_the_contract_requires():
    # given the names the README documents as the public contract
    text = sdl()
    required = [
        "enum Severity",
        "enum Impact",
        "enum Urgency",
        "enum Priority",
        "enum IncidentStatus",
        "node(id: ID!): Node",
        "incident(id: ID!): Incident",
        "declareIncident(input: DeclareIncidentInput!): IncidentPayload!",
        "updateIncident(input: UpdateIncidentInput!): IncidentPayload!",
        "transitionIncident(input: TransitionIncidentInput!): IncidentPayload!",
        "assignIncident(input: AssignIncidentInput!): IncidentPayload!",
        "addNote(input: AddNoteInput!): TimelineEventPayload!",
        "incidentUpdated(id: ID!): Incident!",
        "incidentsChanged(filter: IncidentFilter = null): Incident!",
        "type UserError",
        "enum ErrorCode",
        "interface Node",
    ]
    missing = [name for name in required if name not in text]
    assert missing == []
