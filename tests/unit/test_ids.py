"""Ids: a malformed id names nothing, and says so like an unknown one."""

from __future__ import annotations

import uuid

import pytest

from app.core.ids import is_uuid, parse_uuid, uuid_key
from app.errors import NotFound
from app.schema.common import EVENT_PREFIX, from_global_id, to_global_id


def test_a_uuid_in_any_spelling_is_read():
    key = uuid.uuid4()

    assert parse_uuid(str(key)) == key
    assert parse_uuid(key.hex) == key
    assert parse_uuid(str(key).upper()) == key
    assert parse_uuid(key) == key


@pytest.mark.parametrize("value", ["", "nope", "1234", None, 42, "' OR 1=1 --", "🙂"])
def test_anything_else_is_no_uuid(value):
    assert parse_uuid(value) is None
    assert not is_uuid(value)


def test_a_malformed_key_is_not_found_on_the_field_named():
    # when a command receives an id that is not a UUID
    with pytest.raises(NotFound) as raised:
        uuid_key("INC-1", noun="incident", field="targetId")

    # then it reads as an unknown record, on the field the caller sent
    assert str(raised.value) == "no incident with id 'INC-1'"
    assert raised.value.field == "targetId"


@pytest.mark.parametrize(
    "spelling",
    [str, lambda k: k.hex, lambda k: str(k).upper(), lambda k: "{" + str(k) + "}", lambda k: k.urn],
    ids=["hyphenated", "hex", "upper", "braces", "urn"],
)
def test_a_global_id_is_the_same_for_every_spelling_of_its_key(spelling):
    key = uuid.uuid4()
    assert to_global_id(EVENT_PREFIX, spelling(key)) == EVENT_PREFIX + key.hex
    assert from_global_id(EVENT_PREFIX, to_global_id(EVENT_PREFIX, spelling(key))) == str(key)


@pytest.mark.parametrize("key", ["", "not-a-uuid", "g" * 32, "1" * 31, "1" * 33])
def test_a_key_that_is_no_uuid_makes_no_global_id(key):
    with pytest.raises(ValueError):
        to_global_id(EVENT_PREFIX, key)
