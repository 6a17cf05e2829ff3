"""Free text: refused before a write when no database could store it."""

from __future__ import annotations

import pytest

from app.core.text import storable, unstorable
from app.errors import ValidationFailed


def test_ordinary_text_in_any_script_is_stored_as_given():
    for value in ["", "disk full on db-1", "Störung im Rechenzentrum", "故障 🔥", " padded "]:
        assert unstorable(value) is None
        assert storable(value, field="title") == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "must not contain NUL characters"),
        ("lone \ud800 surrogate", "must be valid Unicode text"),
        ("\udfff", "must be valid Unicode text"),
    ],
)
def test_nul_and_lone_surrogates_are_refused_on_the_field_named(value, reason):
    assert unstorable(value) == reason
    with pytest.raises(ValidationFailed) as raised:
        storable(value, field="description")

    assert str(raised.value) == f"description {reason}"
    assert raised.value.field == "description"
