"""Correlation rules as pure functions: matching, group keys and title templates."""

from __future__ import annotations

from app.models import Severity
from app.services.alerts.correlation import (
    DEFAULT_RULE,
    GROUP_KEY_MAX,
    Rule,
    alert_labels,
    match,
    render_title,
    severity_from_label,
)

ALERT = {
    "alertname": "HighErrorRate",
    "service": "checkout",
    "severity": "critical",
    "source": "alertmanager",
    "title": "5xx above 5%",
    "labels": {"region": "eu-west-1", "service": "ignored-by-pseudo-label"},
}


def rule(rule_id: str, **matchers: str) -> Rule:
    return Rule(
        id=rule_id,
        name=rule_id,
        matchers={k: (v,) for k, v in matchers.items()},
        group_by=("service",),
        window_seconds=600,
    )


def test_pseudo_labels_win_over_labels_of_the_same_name() -> None:
    labels = alert_labels(ALERT)
    assert labels["service"] == "checkout"
    assert labels["region"] == "eu-west-1"


def test_the_first_matching_rule_in_position_order_wins() -> None:
    rules = [rule("eu", region="us-east-1"), rule("checkout", service="checkout"), rule("any")]
    assert match(rules, alert_labels(ALERT)) is rules[1]
    assert match([rule("none", service="search")], alert_labels(ALERT)) is None


def test_group_keys_separate_values_that_a_naive_join_would_confuse() -> None:
    two = Rule(id="r", name="r", matchers={}, group_by=("a", "b"), window_seconds=60)
    assert two.group_key({"a": "x|y", "b": "z"}) != two.group_key({"a": "x", "b": "y|z"})
    assert two.group_key({"a": "x"}) != two.group_key({"a": "x", "b": "None"})


def test_a_long_group_key_is_hashed_within_the_column() -> None:
    key = DEFAULT_RULE.group_key({"service": "s" * 5000, "alertname": "a"})
    assert len(key) <= GROUP_KEY_MAX
    assert key != DEFAULT_RULE.group_key({"service": "s" * 4999, "alertname": "a"})


def test_title_templates_fill_fields_and_labels_and_keep_unknown_braces() -> None:
    assert render_title("{alertname} on {service}", ALERT) == "HighErrorRate on checkout"
    assert render_title("{labels.region}: {labels.zone}", ALERT) == "eu-west-1: unknown"
    assert render_title("{nope} {alertname}", ALERT) == "{nope} HighErrorRate"
    assert render_title("{", ALERT) == "{"


def test_titles_are_trimmed_one_line_and_at_most_255_characters() -> None:
    assert render_title("  a\n\tb\x00c  ", {}) == "a bc"
    assert len(render_title("{title}", {"title": "x" * 1000})) == 255


def test_the_default_title_falls_back_to_the_alert_title() -> None:
    assert DEFAULT_RULE.title_for({"service": "api"}) == "unknown on api"


def test_sender_severity_labels_map_to_incident_severities() -> None:
    assert severity_from_label(" Critical ") == Severity.SEV2
    assert severity_from_label("warning") == Severity.SEV4
    assert severity_from_label("whatever") == Severity.SEV3
    assert severity_from_label(None) == Severity.SEV3
