"""The feed's filter: known event types (every type the code writes), prefixes, subjects,
cursors; each bad value refused on its field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.errors import ValidationFailed
from app.services.feed.queries import decode_cursor, encode_cursor
from app.services.feed.subjects import KINDS, parse_subject, subject_of
from app.services.feed.types import feed_filter, is_known, known_types

APP = Path(__file__).resolve().parents[2] / "app"
# Written with the type of a message sent out, never stored as an event.
_NOT_EVENTS = {"com.incidents.comms.message.v1"}


def test_every_event_type_the_code_names_is_known_to_the_feed():
    literal = re.compile(r"\"(com\.incidents\.[a-z0-9_.]+\.v[0-9]+)\"")
    named = {m for path in APP.rglob("*.py") for m in literal.findall(path.read_text())}
    assert named - _NOT_EVENTS <= known_types(), sorted(named - _NOT_EVENTS - known_types())
    assert is_known("com.incidents.provider.jira.ingested.v1")
    assert not is_known("com.incidents.nothing.v1")


def test_a_filter_takes_known_types_prefixes_and_subjects():
    incident = uuid.uuid4()
    chosen = feed_filter(
        types=["com.incidents.declared.v1", "com.incidents.problem.*", " "],
        subjects=[f"incidents/inc_{incident.hex}"],
        since=datetime(2026, 1, 1, tzinfo=UTC),
    )
    assert chosen.exact_types == ["com.incidents.declared.v1"]
    assert chosen.prefixes == ["com.incidents.problem."]
    assert chosen.record_ids == {str(incident)}
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert chosen.matches("com.incidents.problem.created.v1", str(incident), now)
    assert not chosen.matches("com.incidents.note_added.v1", str(incident), now)
    assert not chosen.matches("com.incidents.declared.v1", str(uuid.uuid4()), now)
    assert not chosen.matches(
        "com.incidents.declared.v1", str(incident), datetime(2025, 1, 1, tzinfo=UTC)
    )
    assert feed_filter().matches("com.incidents.anything.v1", "x", now)


@pytest.mark.parametrize(
    ("types", "subjects", "field"),
    [
        (["com.incidents.nothing.v1"], [], "filter.types"),
        (["com.other.*"], [], "filter.types"),
        (["com.incidents.zzz*"], [], "filter.types"),
        (
            ["com.incidents.declared.v1"] * 1 + [f"com.incidents.x{n}.*" for n in range(101)],
            [],
            "filter.types",
        ),
        ([], ["incidents/nope"], "filter.subjects"),
        ([], ["tickets/tkt_" + "0" * 32], "filter.subjects"),
        ([], [f"problems/inc_{uuid.uuid4().hex}"], "filter.subjects"),
    ],
)
def test_a_bad_filter_is_refused_on_its_field(types, subjects, field):
    with pytest.raises(ValidationFailed) as refused:
        feed_filter(types=types, subjects=subjects)
    assert refused.value.field == field


def test_subjects_name_each_kind_of_record_both_ways():
    for kind in KINDS:
        key = str(uuid.uuid4())
        subject = subject_of(kind.record_type, key)
        assert subject.startswith(f"{kind.collection}/{kind.prefix}")
        assert parse_subject(subject, field="s") == (kind.record_type, key)


@pytest.mark.parametrize("bad", ["", "x", "-1", "1.5", " ", "9" * 19, "0x10"])
def test_a_cursor_is_a_position(bad):
    assert decode_cursor(encode_cursor(42)) == 42
    assert decode_cursor("0") == 0
    with pytest.raises(ValidationFailed) as refused:
        decode_cursor(bad, field="Last-Event-ID")
    assert refused.value.field == "Last-Event-ID"
