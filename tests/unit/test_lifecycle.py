"""The ITIL state table as the README documents it, as data: every move, allowed or not."""

from __future__ import annotations

import pytest

from app.models import IncidentStatus as S
from app.services.incidents.lifecycle import TERMINAL, allowed_targets, can_transition

ALLOWED = {
    S.OPEN: {S.IN_PROGRESS, S.CANCELLED},
    S.IN_PROGRESS: {S.PENDING, S.ESCALATED, S.MITIGATED, S.RESOLVED},
    S.PENDING: {S.IN_PROGRESS},
    S.ESCALATED: {S.IN_PROGRESS, S.MITIGATED, S.RESOLVED},
    S.MITIGATED: {S.IN_PROGRESS, S.RESOLVED},
    S.RESOLVED: {S.CLOSED, S.IN_PROGRESS},
    S.CLOSED: set(),
    S.CANCELLED: set(),
}


@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_move_follows_the_contract_table(current: S, target: S) -> None:
    assert can_transition(current, target) is (target in ALLOWED[current])


def test_closed_and_cancelled_are_terminal() -> None:
    assert TERMINAL == {S.CLOSED, S.CANCELLED}


def test_allowed_targets_are_listed_in_enum_order() -> None:
    # given an incident in progress, the error message lists what it may move to
    assert allowed_targets(S.IN_PROGRESS) == [S.PENDING, S.ESCALATED, S.MITIGATED, S.RESOLVED]
    assert allowed_targets(S.CLOSED) == []
