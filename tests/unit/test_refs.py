"""Short refs: their format, what reads as one, and the collision arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.comms.refs import ALPHABET, PER_DAY, collision_chance, new_ref, normalise

AT = datetime(2026, 12, 4, 23, 59, tzinfo=UTC)


def test_a_ref_is_the_day_and_four_unambiguous_characters():
    refs = {new_ref(AT) for _ in range(2000)}
    assert all(r.startswith("REF-20261204-") and len(r) == 17 for r in refs)
    assert set("".join(r[13:] for r in refs)) <= set(ALPHABET)
    assert not set("ILOU") & set(ALPHABET)
    assert len(refs) > 1990  # 2,000 draws from a million rarely meet


def test_refs_are_read_back_as_people_type_them():
    assert normalise(" ref-20261204-7k2m ") == "REF-20261204-7K2M"
    assert normalise("REF-20261204-O1L0") == "REF-20261204-0110"
    for bad in ("REF-2026124-7K2M", "REF-20261304-7K2M", "REF-20261204-7K2", "RFE-20261204-7K2M",
                "REF-20261204-7K2U", ""):  # fmt: skip
        assert normalise(bad) is None, bad


def test_ten_thousand_a_day_collide_rarely():
    assert PER_DAY == 1_048_576
    assert collision_chance(10_000) < 0.01
    expected = 10_000**2 / (2 * PER_DAY)
    assert 47 < expected < 48  # retries a day, each caught by the unique index
    assert 10_000 / 32**3 > 0.3  # three characters would not do


def test_a_required_review_is_due_five_working_days_after_the_resolution():
    from datetime import timedelta

    from app.models import Priority as P
    from app.models import ReviewStatus as R
    from app.services.comms.review_rules import review_due, review_overdue, review_required

    monday = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert review_due(monday) == monday + timedelta(days=7)  # the next Monday
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert review_due(friday) == friday + timedelta(days=7)
    saturday = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert review_due(saturday) == datetime(2026, 12, 11, 9, 0, tzinfo=UTC)  # Mon..Fri
    assert review_required(P.P1, False) and review_required(P.P4, True)
    assert not review_required(P.P3, False)
    late = monday + timedelta(days=8)
    assert review_overdue(priority=P.P2, is_major=False, resolved_at=monday, status=None, now=late)
    assert not review_overdue(
        priority=P.P2, is_major=False, resolved_at=monday, status=R.PUBLISHED, now=late
    )
    assert not review_overdue(
        priority=P.P3, is_major=False, resolved_at=monday, status=None, now=late
    )
