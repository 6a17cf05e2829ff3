"""The three-way merge of a linked ticket: what is pushed, pulled, flagged or held, per field."""

from __future__ import annotations

from datetime import UTC, datetime

from app.services.itsm.mapping import ConflictPolicy, FieldRule, SourceOfTruth, SyncedField
from app.services.itsm.three_way import Plan, decide

EARLY = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)


def title_rule(**kw: object) -> dict[SyncedField, FieldRule]:
    return {SyncedField.TITLE: FieldRule("short_description", **kw)}  # type: ignore[arg-type]


def plan_for(
    rules: dict[SyncedField, FieldRule],
    *,
    base: str | None,
    mine: str,
    theirs: str | None = None,
    ours_changed_at: datetime | None = None,
    remote_updated_at: datetime | None = None,
    open_conflicts: dict[str, object] | None = None,
) -> Plan:
    return decide(
        rules=rules,
        base={} if base is None else {"title": base},
        internal={"title": mine},
        remote={} if theirs is None else {"title": theirs},
        open_conflicts=open_conflicts or {},
        changed_at={} if ours_changed_at is None else {"title": ours_changed_at.isoformat()},
        remote_updated_at=remote_updated_at,
    )


def test_only_our_side_changed_pushes() -> None:
    plan = plan_for(title_rule(), base="a", mine="b", theirs="a")
    assert plan.push == {"title": "b"} and not plan.pull and not plan.drift


def test_only_their_side_changed_pulls_and_is_drift() -> None:
    plan = plan_for(title_rule(), base="a", mine="a", theirs="c")
    assert plan.pull == {"title": ("c", plan.pull["title"][1])}
    assert plan.drift == ["title"] and not plan.push


def test_both_sides_agree_is_nothing_to_do() -> None:
    plan = plan_for(title_rule(), base="a", mine="b", theirs="b")
    assert plan.agreed == {"title": "b"} and not plan.push and not plan.pull


def test_a_field_the_webhook_did_not_report_is_pushed_only_if_ours_changed() -> None:
    assert plan_for(title_rule(), base="a", mine="b").push == {"title": "b"}
    assert plan_for(title_rule(), base="a", mine="a").push == {}
    external_owned = title_rule(source=SourceOfTruth.EXTERNAL)
    assert plan_for(external_owned, base="a", mine="b").push == {}


def test_internal_source_of_truth_reverts_their_edit() -> None:
    plan = plan_for(title_rule(source=SourceOfTruth.INTERNAL), base="a", mine="a", theirs="x")
    assert plan.push == {"title": "a"} and plan.drift == ["title"]


def test_external_source_of_truth_follows_them() -> None:
    plan = plan_for(title_rule(source=SourceOfTruth.EXTERNAL), base="a", mine="b", theirs="x")
    assert list(plan.pull) == ["title"] and not plan.push


def test_both_changed_most_recent_wins() -> None:
    rules = title_rule(policy=ConflictPolicy.MOST_RECENT_ALLOWED)
    theirs_newer = plan_for(
        rules, base="a", mine="b", theirs="c", ours_changed_at=EARLY, remote_updated_at=LATE
    )
    assert list(theirs_newer.pull) == ["title"]
    ours_newer = plan_for(
        rules, base="a", mine="b", theirs="c", ours_changed_at=LATE, remote_updated_at=EARLY
    )
    assert ours_newer.push == {"title": "b"}


def test_both_changed_with_fixed_winners() -> None:
    assert plan_for(
        title_rule(policy=ConflictPolicy.INTERNAL_WINS), base="a", mine="b", theirs="c"
    ).push == {"title": "b"}
    assert list(
        plan_for(
            title_rule(policy=ConflictPolicy.EXTERNAL_WINS), base="a", mine="b", theirs="c"
        ).pull
    ) == ["title"]


def test_manual_policy_holds_a_conflict_and_an_open_conflict_blocks_only_its_field() -> None:
    plan = plan_for(title_rule(policy=ConflictPolicy.MANUAL), base="a", mine="b", theirs="c")
    assert plan.conflicts == {"title": "c"} and not plan.push and not plan.pull
    held = plan_for(
        title_rule(policy=ConflictPolicy.MANUAL),
        base="a",
        mine="b",
        theirs="d",
        open_conflicts={"title": {"theirs": "c"}},
    )
    assert not held.push and not held.pull and not held.conflicts
