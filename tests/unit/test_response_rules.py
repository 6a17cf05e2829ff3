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


def test_a_playbooks_tasks_depend_on_other_positions_without_a_cycle():
    import pytest

    from app.errors import ValidationFailed
    from app.services.response.playbooks import TemplateTask, template_tasks

    ok = template_tasks([TemplateTask("a"), TemplateTask("b", depends_on=(0, 0))])
    assert [t.depends_on for t in ok] == [(), (0,)]
    for tasks, field in (
        ([], "tasks"),
        ([TemplateTask("a", depends_on=(2,))], "tasks[0].dependsOn"),
        ([TemplateTask("a", depends_on=(1,)), TemplateTask("b", depends_on=(0,))], "tasks"),
        ([TemplateTask("a", due_in_minutes=0)], "tasks[0].dueInMinutes"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            template_tasks(tasks)
        assert refused.value.field == field


def test_a_playbook_applies_itself_only_where_every_condition_it_sets_holds():
    from datetime import UTC, datetime

    from app.models import IncidentCategory as C
    from app.models import Severity as S
    from app.services.response.playbooks import PlaybookView

    now = datetime(2026, 1, 1, tzinfo=UTC)
    view = PlaybookView(
        id="p", tenant_id="t", name="n", description=None, version=1, tasks=(),
        match_categories=frozenset({C.SECURITY}), match_severities=frozenset(),
        match_service_ids=frozenset({"svc"}), auto_apply=True, active=True,
        created_at=now, updated_at=now,
    )  # fmt: skip
    assert view.matches(C.SECURITY, S.SEV4, ["svc", "other"])
    assert not view.matches(C.NETWORK, S.SEV1, ["svc"])
    assert not view.matches(None, S.SEV1, ["svc"])
    assert not view.matches(C.SECURITY, S.SEV1, ["other"])


def test_an_escalation_step_falls_its_levels_wait_after_the_last_step():
    from datetime import UTC, datetime, timedelta

    import pytest

    from app.errors import ValidationFailed
    from app.models import EscalationTier as Tier
    from app.models import Priority
    from app.services.response.escalation import Level, PolicyView, levels_of

    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    path = PolicyView(
        Priority.P1,
        (Level("team-a", None, 5), Level(None, Tier.L2, 10), Level(None, Tier.L3, 0.5)),
    )
    assert path.next_due(0, t0) == t0 + timedelta(minutes=5)
    assert path.next_due(1, t0) == t0 + timedelta(minutes=10)
    assert path.next_due(2, t0) == t0 + timedelta(seconds=30)
    assert path.next_due(3, t0) is None  # the last level: nothing further by itself
    assert PolicyView(Priority.P5).next_due(0, t0) is None
    for bad, field in (
        ([Level(None, None, 5)], "levels[0]"),
        ([Level("team-a", Tier.L1, 5)], "levels[0]"),
        ([Level(None, Tier.L1, 0)], "levels[0].ackTimeoutMinutes"),
        ([Level(None, Tier.L1, 7 * 24 * 60 + 1)], "levels[0].ackTimeoutMinutes"),
        ([Level(None, Tier.L1, 5)] * 11, "levels"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            levels_of(bad)
        assert refused.value.field == field
