"""Settings: declared once, read from the environment, refused clearly, documented."""

from __future__ import annotations

import re

import pytest

from app.config import ConfigError, Settings, settings_table
from tests.support import ROOT


def test_the_readme_table_is_the_one_the_declarations_print():
    # given the README's configuration table
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- settings:[^\n]*-->\n(.*?)<!-- /settings -->", readme, re.S)

    # then it is exactly what `python -m app.config` prints
    assert table is not None
    assert table.group(1) == settings_table()


def test_no_module_but_the_settings_reads_the_environment():
    # given every module of the application but app/config.py
    readers = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sorted((ROOT / "app").rglob("*.py"))
        if path != ROOT / "app" / "config.py"
        for line in path.read_text().splitlines()
        if re.search(r"os\.getenv|os\.environ\.get|os\.environ\[|environ\.get\(", line)
    ]

    # then none reads a variable itself: every setting is declared, checked and documented
    assert readers == []


def test_values_are_read_with_their_types_and_defaults_kept_otherwise():
    settings = Settings.from_env(
        {
            "INCIDENTGRAPH_PORT": "9001",
            "INCIDENTGRAPH_QUERY_CACHE_SECONDS": "0.5",
            "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS": "yes",
            "INCIDENTGRAPH_ALLOWED_ORIGINS": " https://Wall.example.com/ ,*",
            "INCIDENTGRAPH_BOOTSTRAP_TOKEN": "",
        }
    )

    assert settings.port == 9001
    assert settings.query_cache_seconds == 0.5
    assert settings.allow_private_networks is True
    assert settings.allowed_origins == ("https://wall.example.com", "*")
    assert settings.bootstrap_token is None
    assert (
        settings.with_(
            port=8000, query_cache_seconds=1.0, allow_private_networks=False, allowed_origins=()
        )
        == Settings()
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INCIDENTGRAPH_PORT", "x", "INCIDENTGRAPH_PORT must be a whole number, not 'x'"),
        ("INCIDENTGRAPH_PORT", "70000", "INCIDENTGRAPH_PORT out of range: 70000"),
        (
            "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS",
            "1",
            "INCIDENTGRAPH_ITSM_RETRY_BASE_SECONDS must be above 0 and at most "
            "INCIDENTGRAPH_ITSM_RETRY_MAX_SECONDS (at most 86400)",
        ),
        (
            "INCIDENTGRAPH_MAX_QUERY_COST",
            "-1",
            "INCIDENTGRAPH_MAX_QUERY_COST must be between 0 (no limit) and 100000000",
        ),
        (
            "INCIDENTGRAPH_ALERT_POLL_SECONDS",
            "0",
            "INCIDENTGRAPH_ALERT_POLL_SECONDS must be above 0 and at most 60",
        ),
        (
            "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS",
            "maybe",
            "INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS must be true or false, not 'maybe'",
        ),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_and_the_rule(name, value, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value})

    assert str(raised.value) == message


def test_secrets_never_appear_in_the_settings_repr():
    settings = Settings.from_env(
        {
            "INCIDENTGRAPH_BOOTSTRAP_TOKEN": "bootstrap-token-0123456789",
            "INCIDENTGRAPH_METRICS_TOKEN": "metrics-token-0123456789",
        }
    )

    assert "0123456789" not in repr(settings)
