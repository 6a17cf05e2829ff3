"""Ids: a malformed id names nothing, and says so like an unknown one."""

from __future__ import annotations

import uuid

import pytest

from app.core.ids import is_uuid, parse_uuid, uuid_key
from app.errors import NotFound


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
