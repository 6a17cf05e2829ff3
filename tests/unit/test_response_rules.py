"""Progress from tasks and what holds a task back: pure arithmetic."""

from __future__ import annotations

from app.models import IncidentStatus as I
from app.models import TaskStatus as T
from app.services.response.progress import blocking, progress


def test_progress_weighs_done_tasks_by_their_estimates():
    tasks = [(T.DONE, 3.0), (T.IN_PROGRESS, 1.0), (T.TODO, None), (T.BLOCKED, 5.0)]
    assert progress(I.IN_PROGRESS, tasks) == 30  # 3 of 10 hours


def test_a_task_without_an_estimate_counts_one_hour_and_skipped_ones_nothing():
    assert progress(I.OPEN, [(T.DONE, None), (T.TODO, None), (T.TODO, None)]) == 33
    assert progress(I.OPEN, [(T.DONE, None), (T.SKIPPED, 40.0)]) == 100
    assert progress(I.OPEN, [(T.SKIPPED, 2.0)]) == 0


def test_progress_is_rounded_down_so_100_means_everything_done():
    assert progress(I.OPEN, [(T.DONE, 999.0), (T.TODO, 1.0)]) == 99
    assert progress(I.OPEN, [(T.DONE, 0.1), (T.DONE, 0.2), (T.DONE, 0.7)]) == 100


def test_progress_is_100_once_resolved_or_closed_and_0_with_nothing_to_do():
    assert progress(I.RESOLVED, [(T.TODO, 8.0)]) == 100
    assert progress(I.CLOSED, []) == 100
    assert progress(I.OPEN, []) == 0
    assert progress(I.CANCELLED, [(T.TODO, 1.0)]) == 0


def test_only_dependencies_not_done_or_skipped_hold_a_task_back():
    statuses = {"a": T.DONE, "b": T.SKIPPED, "c": T.IN_PROGRESS, "d": T.BLOCKED}
    assert blocking(["a", "b"], statuses) == []
    assert blocking(["a", "c", "d"], statuses) == ["c", "d"]
    assert blocking(["gone"], statuses) == ["gone"]
