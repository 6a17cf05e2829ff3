"""What a user's fields accept: cleaned when they can be, refused on their field when not."""

from __future__ import annotations

import pytest

from app.errors import ValidationFailed
from app.services.people.users import (
    chat_ids_of,
    email_of,
    handle_of,
    name_of,
    phone_of,
    time_zone_of,
)


def test_fields_are_cleaned_to_one_spelling():
    assert handle_of("  @Dana.Ops_1 ") == "dana.ops_1"
    assert email_of(" Dana@Example.COM ") == "dana@example.com"
    assert name_of("  Dana \t  Scully ") == "Dana Scully"
    assert time_zone_of(" America/New_York ") == "America/New_York"
    assert phone_of("  ") is None and phone_of("+1 (212) 555-0100") == "+1 (212) 555-0100"
    assert chat_ids_of({" Slack ": " U1 "}) == {"slack": "U1"} and chat_ids_of(None) == {}


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (handle_of, "", "handle"),
        (handle_of, "-dash-first", "handle"),
        (handle_of, "has space", "handle"),
        (handle_of, "x" * 65, "handle"),
        (email_of, "dana", "email"),
        (email_of, "dana@localhost", "email"),
        (email_of, "da na@example.com", "email"),
        (name_of, " \t ", "name"),
        (name_of, "x" * 256, "name"),
        (name_of, "nul\x00byte", "name"),
        (time_zone_of, "Europe/Atlantis", "timeZone"),
        (time_zone_of, "../../etc/passwd", "timeZone"),
        (phone_of, "call me maybe", "phone"),
        (chat_ids_of, ["U1"], "chatIds"),
        (chat_ids_of, {"slack": 42}, "chatIds"),
        (chat_ids_of, {f"s{n}": "x" for n in range(11)}, "chatIds"),
    ],
)
def test_a_value_that_cannot_be_cleaned_is_refused_on_its_field(check, value, field):
    with pytest.raises(ValidationFailed) as raised:
        check(value)

    assert raised.value.field == field
