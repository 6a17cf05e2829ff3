"""Page sizes: one default and one ceiling, and a clear refusal outside them."""

from __future__ import annotations

import pytest

from app.core.pagination import PAGE_DEFAULT, PAGE_MAX, page_size
from app.errors import ValidationFailed


def test_an_absent_size_is_the_default_and_the_bounds_are_accepted():
    assert page_size(None) == PAGE_DEFAULT == 50
    assert page_size(0) == 0
    assert page_size(PAGE_MAX) == PAGE_MAX == 500


@pytest.mark.parametrize("first", [-1, PAGE_MAX + 1, 10**9])
def test_a_size_outside_the_bounds_is_refused_on_its_field(first):
    with pytest.raises(ValidationFailed) as raised:
        page_size(first, field="last")

    assert str(raised.value) == "last must be between 0 and 500"
    assert raised.value.field == "last"
