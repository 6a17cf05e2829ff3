"""INCIDENTGRAPH_OIDC_ISSUERS: parsed into issuers, refused with what is wrong; and how a
sign-in's claims become a role and a handle."""

from __future__ import annotations

import json

import pytest

from app.config import ROLE_NAMES, ConfigError, OidcIssuer, Settings
from app.models import Role
from app.services.access.tokens import Unauthenticated
from app.services.people.oidc import handle_from, looks_like_jwt, role_of

ISSUER = {
    "issuer": "https://login.example.com/realms/ops",
    "audience": "incidentgraph",
    "jwksUrl": "https://login.example.com/realms/ops/protocol/openid-connect/certs",
    "roleClaim": "realm_access.roles",
    "roles": {"ops": "RESPONDER", "ops-leads": "INCIDENT_MANAGER"},
}


def settings_with(*issuers: object) -> Settings:
    return Settings.from_env({"INCIDENTGRAPH_OIDC_ISSUERS": json.dumps(list(issuers))})


def test_the_role_names_are_the_roles():
    assert list(ROLE_NAMES) == [r.value for r in Role]


def test_an_issuer_is_read_with_its_defaults():
    (issuer,) = settings_with(ISSUER).oidc

    assert issuer.tenant == "default" and issuer.default_role is None
    assert dict(issuer.roles) == ISSUER["roles"]
    assert Settings.from_env({}).oidc == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audience": ""}, "issuer 1 needs 'audience' (a non-empty string)"),
        ({"jwksUrl": "file:///etc/keys"}, "issuer 1: jwksUrl must be an http(s) URL"),
        ({"roles": {"ops": "GOD"}}, "issuer 1: 'GOD' is not a role"),
        ({"defaultRole": "ROOT"}, "issuer 1: 'ROOT' is not a role"),
        ({"scopes": ["x"]}, "issuer 1 has unknown keys ['scopes']"),
        ({"roles": ["ops"]}, "issuer 1: roles must map claim values to roles"),
    ],
)
def test_a_bad_issuer_is_refused_naming_the_variable_and_the_problem(change, message):
    with pytest.raises(ConfigError) as raised:
        settings_with({**ISSUER, **change})

    assert str(raised.value).startswith("INCIDENTGRAPH_OIDC_ISSUERS " + message)


def test_not_json_and_duplicate_issuers_are_refused():
    for text, message in (("{", "is not JSON"), ("{}", "must be a JSON list of issuers")):
        with pytest.raises(ConfigError, match=message):
            Settings.from_env({"INCIDENTGRAPH_OIDC_ISSUERS": text})
    with pytest.raises(ConfigError, match="lists an issuer twice"):
        settings_with(ISSUER, ISSUER)


def issuer(**overrides: object) -> OidcIssuer:
    (parsed,) = settings_with({**ISSUER, **overrides}).oidc
    return parsed


def test_the_highest_mapped_role_wins_and_unmapped_values_count_for_nothing():
    claims = {"realm_access": {"roles": ["offline_access", "ops", "ops-leads"]}}

    assert role_of(issuer(), claims) is Role.INCIDENT_MANAGER
    assert role_of(issuer(roleClaim="group"), {"group": "ops"}) is Role.RESPONDER
    assert role_of(issuer(defaultRole="VIEWER"), {"realm_access": {"roles": []}}) is Role.VIEWER
    with pytest.raises(Unauthenticated, match="maps to none"):
        role_of(issuer(), {"realm_access": {"roles": ["marketing"]}})
    with pytest.raises(Unauthenticated):
        role_of(issuer(), {"realm_access": "not-a-list-of-roles"})


def test_a_handle_comes_from_the_username_then_the_email_then_the_subject():
    assert handle_from({"sub": "1", "preferred_username": "Dana.Scully@FBI"}) == "dana.scully"
    assert handle_from({"sub": "1", "email": "--fox+x@fbi.gov"}) == "fox-x"
    assert handle_from({"sub": "1", "preferred_username": "!!!"}).startswith("user-")


def test_only_compact_jwts_go_to_the_issuers():
    assert looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln")
    assert not looks_like_jwt("igt_abcdef")
    assert not looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.eyJ9")
