"""Plain rows read as Tortoise's fields would read them, whichever driver returned them."""

from __future__ import annotations

import json
import uuid
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import orjson

from app.models import Classification, IncidentStatus, Priority, Severity
from app.services.incidents import rows
from app.services.incidents.snapshot import SNAPSHOT_COLUMNS, IncidentSnapshot
from app.services.incidents.timeline import EventRecord
from app.web.graphql import encode_response

EVENT_ID = uuid.UUID("6f1c1b9e-8f7e-4c1b-9a39-0f6f2b1f0c11")
INCIDENT_ID = uuid.UUID("0b7e3b8e-2d55-4d8c-9d0f-3a1f5f6f2a10")


def test_times_come_back_aware_in_utc_from_either_driver() -> None:
    # given
    moment = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)

    # when
    read = [
        rows.instant(moment),
        rows.instant(moment.astimezone(timezone(timedelta(hours=2)))),
        rows.instant("2024-05-01 12:30:15.123456+00:00"),
        rows.instant("2024-05-01T12:30:15.123456"),
    ]

    # then
    assert read == [moment] * 4
    assert all(r.tzinfo is UTC for r in read)
    assert rows.utc(None) is None


def test_json_columns_decode_like_the_standard_library() -> None:
    # given
    stored = [
        '{"kind": "GENERAL", "n": [1, 2.5, null]}',
        b'{"a": "\\u00e9"}',
        '{"big": 123456789012345678901234567890}',
        '{"x": NaN}',
    ]

    # when
    read = [rows.json_value(value) for value in stored]

    # then
    assert read[:3] == [json.loads(value) for value in stored[:3]]
    assert read[3]["x"] != read[3]["x"]  # NaN, as json.loads reads it
    assert rows.json_value({"already": "decoded"}) == {"already": "decoded"}


def test_an_event_row_reads_as_its_record() -> None:
    # given
    time = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    postgres = (EVENT_ID, INCIDENT_ID, 3, "t", "s", "e", time, None, '{"a": 1}', "CONFIDENTIAL")
    sqlite = (str(EVENT_ID), str(INCIDENT_ID), 3, "t", "s", "e", time.isoformat(" "), None)
    sqlite += ('{"a": 1}', "CONFIDENTIAL")

    # when
    records = [EventRecord.from_row(postgres), EventRecord.from_row(sqlite)]

    # then
    expected = EventRecord(
        id=str(EVENT_ID),
        incident_id=str(INCIDENT_ID),
        seq=3,
        type="t",
        source="s",
        event_id="e",
        time=time,
        actor=None,
        data={"a": 1},
        classification=Classification.CONFIDENTIAL,
    )
    assert records == [expected, expected]
    assert records[0].classification is Classification.CONFIDENTIAL


def test_an_incident_row_reads_as_its_snapshot() -> None:
    # given: SQLite's values (text ids and times, integer booleans)
    values = {f.name: None for f in fields(IncidentSnapshot)}
    values.update(
        id=str(INCIDENT_ID),
        tenant_id="acme",
        number=7,
        title="Checkout down",
        severity="SEV1",
        impact="HIGH",
        urgency="HIGH",
        priority="P1",
        status="OPEN",
        is_major=1,
        created_at="2024-05-01 12:00:00+00:00",
        updated_at="2024-05-01 12:05:00+00:00",
        version=2,
        last_seq=4,
        classification="INTERNAL",
        assigned_team_id=uuid.UUID(int=5),
        is_drill=0,
        escalation_level=0,
        legal_hold=0,
    )

    # when
    snapshot = IncidentSnapshot.from_row(tuple(values[c] for c in SNAPSHOT_COLUMNS))

    # then
    assert snapshot.id == str(INCIDENT_ID)
    assert snapshot.severity is Severity.SEV1
    assert snapshot.priority is Priority.P1
    assert snapshot.status is IncidentStatus.OPEN
    assert snapshot.is_major is True and snapshot.is_drill is False
    assert snapshot.legal_hold is False
    assert snapshot.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert snapshot.assigned_team_id == str(uuid.UUID(int=5))
    assert snapshot.category is None and snapshot.resolved_at is None


def test_responses_encode_as_valid_compact_json() -> None:
    # given
    answer = {"data": {"a": [1, "é", None, True], "big": 2**70, 3: "x"}}

    # when
    encoded = encode_response(answer)
    plain = encode_response({"data": {"t": "é", "n": 1.5}})

    # then
    assert json.loads(encoded) == {"data": {"a": [1, "é", None, True], "big": 2**70, "3": "x"}}
    assert plain == orjson.dumps({"data": {"t": "é", "n": 1.5}})
    assert json.loads(plain) == {"data": {"t": "é", "n": 1.5}}
