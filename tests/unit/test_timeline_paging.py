"""Paging a timeline: which seqs a page holds, forward from the oldest or back from the newest."""

from __future__ import annotations

import pytest

from app.errors import ValidationFailed
from app.services.incidents.timeline import decode_seq_cursor, encode_seq_cursor, seq_window


def test_forward_pages_start_after_the_cursor_and_stop_at_the_end():
    assert seq_window(total=120) == (0, 50)
    assert seq_window(total=120, first=50, after=encode_seq_cursor(50)) == (50, 100)
    assert seq_window(total=120, first=50, after=encode_seq_cursor(100)) == (100, 120)
    assert seq_window(total=120, first=10, after=encode_seq_cursor(500)) == (120, 120)


def test_backward_pages_end_before_the_cursor_or_at_the_newest():
    assert seq_window(total=120, last=5) == (115, 120)
    assert seq_window(total=120, last=5, before=encode_seq_cursor(116)) == (110, 115)
    assert seq_window(total=120, last=50, before=encode_seq_cursor(3)) == (0, 2)
    assert seq_window(total=3, last=5, before=encode_seq_cursor(900)) == (0, 3)


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"first": 5, "last": 5}, "last", "use first/after or last/before, not both"),
        ({"first": 501}, "first", "first must be between 0 and 500"),
        ({"last": -1}, "last", "last must be between 0 and 500"),
        ({"after": "bm9wZQ"}, "after", "malformed cursor in after"),
        ({"before": "!!"}, "before", "malformed cursor in before"),
    ],
)
def test_bad_paging_is_refused_on_the_argument_at_fault(arguments, field, message):
    with pytest.raises(ValidationFailed) as raised:
        seq_window(total=10, **arguments)

    assert (raised.value.field, str(raised.value)) == (field, message)


def test_a_cursor_is_a_seq_and_nothing_else_reads_as_one():
    assert decode_seq_cursor(encode_seq_cursor(42)) == 42
    assert decode_seq_cursor("bm9wZQ") is None  # "nope"
    assert decode_seq_cursor(encode_seq_cursor(10**13)) is None
