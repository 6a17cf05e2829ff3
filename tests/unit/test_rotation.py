"""Rotation arithmetic: who holds the pager at an instant, across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.services.people.rotation import Layer, Override, on_call

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def at(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def who(layer: Layer, instant: datetime) -> str | None:
    shift = layer.on_call(instant)
    return None if shift is None else shift.user


def daily(zone: str, start: date, people: str = "abc", hour: int = 9) -> Layer:
    return Layer(tuple(people), timedelta(days=1), time(hour, 0), zone, start)


def test_a_daily_rotation_hands_over_at_the_handoff_time_in_turn():
    layer = daily(BERLIN, date(2026, 1, 5))

    assert who(layer, at(BERLIN, 2026, 1, 5, 8, 59)) is None  # before the first handoff
    assert who(layer, at(BERLIN, 2026, 1, 5, 9, 0)) == "a"
    assert who(layer, at(BERLIN, 2026, 1, 6, 8, 59)) == "a"
    assert who(layer, at(BERLIN, 2026, 1, 6, 9, 0)) == "b"
    assert who(layer, at(BERLIN, 2026, 1, 8, 9, 0)) == "a"


def test_berlin_handoffs_stay_at_nine_across_both_changes():
    # Europe/Berlin: clocks go forward on 2026-03-29 and back on 2026-10-25 (at 02:00/03:00)
    layer = daily(BERLIN, date(2026, 3, 1))

    spring = layer.on_call(at(BERLIN, 2026, 3, 29, 12, 0))
    autumn = layer.on_call(at(BERLIN, 2026, 10, 25, 12, 0))

    assert spring is not None and autumn is not None
    # the shift across the change is 23 hours in spring, 25 in autumn, handoffs at 09:00
    assert spring.since == at(BERLIN, 2026, 3, 29, 9, 0)
    assert spring.until == at(BERLIN, 2026, 3, 30, 9, 0)
    assert spring.until - spring.since == timedelta(hours=24)
    before = layer.on_call(at(BERLIN, 2026, 3, 29, 8, 0))
    assert before is not None and before.until - before.since == timedelta(hours=23)
    after = layer.on_call(at(BERLIN, 2026, 10, 25, 8, 0))
    assert after is not None and after.until - after.since == timedelta(hours=25)
    assert autumn.since.astimezone(ZoneInfo(BERLIN)).hour == 9


def test_new_york_weekly_rotation_crosses_both_changes_without_drifting():
    # America/New_York: forward on 2026-03-08, back on 2026-11-01
    layer = Layer(("x", "y"), timedelta(days=7), time(10, 0), NEW_YORK, date(2026, 3, 2))

    shift = layer.on_call(at(NEW_YORK, 2026, 3, 8, 12, 0))
    assert shift is not None and shift.user == "x"
    assert shift.until == at(NEW_YORK, 2026, 3, 9, 10, 0)
    assert shift.until - shift.since == timedelta(days=7, hours=-1)
    # eight months on, the handoff is still Monday 10:00 local
    later = layer.on_call(at(NEW_YORK, 2026, 11, 3, 12, 0))
    assert later is not None
    local = later.since.astimezone(ZoneInfo(NEW_YORK))
    assert (local.weekday(), local.hour, local.minute) == (0, 10, 0)


def test_a_handoff_in_the_repeated_autumn_hour_happens_once():
    # 12-hour shifts handing over at 02:30 and 14:30 in Berlin: 02:30 happens twice on 25 Oct
    layer = Layer(("n", "d"), timedelta(hours=12), time(2, 30), BERLIN, date(2026, 10, 20))
    first_0230 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second_0230 = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET

    holder = layer.on_call(first_0230)
    still = layer.on_call(second_0230)

    assert holder is not None and still is not None
    assert holder.user == still.user, "no second handoff at the repeated 02:30"


def test_a_handoff_in_the_skipped_spring_hour_happens_when_the_clock_reads_it():
    layer = Layer(("n", "d"), timedelta(days=1), time(2, 30), BERLIN, date(2026, 3, 27))

    before = layer.on_call(datetime(2026, 3, 29, 0, 59, tzinfo=UTC))  # 01:59 CET
    after = layer.on_call(datetime(2026, 3, 29, 1, 31, tzinfo=UTC))  # 03:31 CEST

    assert before is not None and after is not None
    assert before.user != after.user


def test_the_highest_begun_layer_wins_and_an_override_wins_over_all():
    base = daily(BERLIN, date(2026, 1, 1), people="ab")
    top = daily(BERLIN, date(2026, 2, 1), people="z")
    noon = at(BERLIN, 2026, 1, 15, 12, 0)
    later = at(BERLIN, 2026, 2, 15, 12, 0)
    cover = Override("o", at(BERLIN, 2026, 2, 15, 11, 0), at(BERLIN, 2026, 2, 15, 13, 0))
    newer = Override("p", at(BERLIN, 2026, 2, 15, 11, 30), at(BERLIN, 2026, 2, 15, 12, 30))

    def holder(overrides: list[Override], instant: datetime) -> str | None:
        shift = on_call([base, top], overrides, instant)
        return None if shift is None else shift.user

    assert holder([], noon) == "a"  # 1 Jan is a's, 15 Jan too (14 days on)
    assert holder([], later) == "z"
    assert holder([cover], later) == "o"
    assert holder([cover, newer], later) == "p"
    # an override that begins during a shift ends that shift early
    shift = on_call([base, top], [cover], at(BERLIN, 2026, 2, 15, 10, 0))
    assert shift is not None and shift.until == cover.starts_at
    assert on_call([top], [], noon) is None
