"""Rule templates and quiet hours: placeholders checked by name, and quiet hours that wrap
past midnight in the person's own time zone, across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.errors import ValidationFailed
from app.services.comms.preferences import quiet_until
from app.services.comms.rules import placeholders_of, render


def test_templates_name_known_placeholders_only():
    assert placeholders_of("[{priority}] {reference}: {title} {{literal}}", field="s") == {
        "priority",
        "reference",
        "title",
    }
    for bad in ("{colour}", "{title.upper}", "{title[0]}", "{title!r}", "{title:>9}", "{0}", "{"):
        with pytest.raises(ValidationFailed):
            placeholders_of(bad, field="s")


def test_rendering_substitutes_and_leaves_literal_braces():
    values = {"reference": "INC-7", "title": "{not a placeholder}"}
    assert render("{reference}: {title} {{x}}", values) == "INC-7: {not a placeholder} {x}"


def test_quiet_hours_wrap_past_midnight_in_the_persons_zone():
    # 23:30 in Berlin (CET, UTC+1) on 10 January: inside 22:00-07:00, which ends 06:00 UTC
    at = datetime(2026, 1, 10, 22, 30, tzinfo=UTC)
    assert quiet_until(at, "22:00", "07:00", "Europe/Berlin") == datetime(
        2026, 1, 11, 6, 0, tzinfo=UTC
    )
    # 07:30 Berlin: outside
    assert (
        quiet_until(datetime(2026, 1, 11, 6, 30, tzinfo=UTC), "22:00", "07:00", "Europe/Berlin")
        is None
    )


def test_quiet_hours_end_at_the_local_time_across_a_dst_change():
    # the night of 28-29 March 2026 (CET -> CEST at 02:00): 07:00 local is 05:00 UTC
    at = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET
    assert quiet_until(at, "22:00", "07:00", "Europe/Berlin") == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )
    # a daytime window in New York
    assert quiet_until(
        datetime(2026, 6, 1, 17, 0, tzinfo=UTC), "12:00", "14:00", "America/New_York"
    ) == datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
    assert quiet_until(at, None, None, "UTC") is None
