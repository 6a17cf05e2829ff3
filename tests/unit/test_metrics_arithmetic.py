"""The arithmetic of incident metrics on hand-computed sums: means, nearest-rank
percentiles and rates with nothing to measure."""

from __future__ import annotations

import pytest

from app.services.incidents.metrics import _Measured, nearest_rank, rate


def test_nearest_rank_is_ceil_of_p_times_n():
    assert [nearest_rank(50, n) for n in (1, 2, 3, 4, 10)] == [1, 1, 2, 2, 5]
    assert [nearest_rank(90, n) for n in (1, 3, 10, 11)] == [1, 3, 9, 10]


def test_rates_are_null_when_there_is_nothing_to_measure():
    assert rate(0, 0) is None and rate(None, None) is None
    assert rate(None, 4) == 0.0 and rate(3, 4) == 0.75


def test_figures_from_the_sums_of_two_groups():
    # group 1: acknowledged after 300 s and 1800 s, resolved after 3600 s; one response
    # clock met, one breached. group 2: acknowledged after 600 s, resolved after 7200 s,
    # escalated; its response clock met, its resolve clock running.
    measured = _Measured({})
    for row in (
        {
            "total": 2,
            "tta_sum": 2100,
            "tta_n": 2,
            "ttr_sum": 3600,
            "ttr_n": 1,
            "resp_met": 1,
            "resp_breached": 1,
            "res_met": 1,
            "res_breached": 0,
            "escalated": 0,
        },
        {
            "total": 1,
            "tta_sum": 600,
            "tta_n": 1,
            "ttr_sum": 7200,
            "ttr_n": 1,
            "resp_met": 1,
            "resp_breached": 0,
            "res_met": 0,
            "res_breached": 0,
            "escalated": 1,
            "n_status_RESOLVED": 1,
        },
    ):
        measured.add({"ever_resolved": 0, "reopened": 0, "review_due": 0, **row})

    f = measured.figures()
    assert f.total == 3
    assert f.mtta_seconds == pytest.approx(2700 / 3)
    assert f.mttr_seconds == pytest.approx(5400)
    assert f.sla_response_compliance == pytest.approx(2 / 3)
    assert f.sla_resolve_compliance == 1.0
    assert f.escalation_rate == pytest.approx(1 / 3)
    assert measured.breakdown("status") == {"RESOLVED": 1}
