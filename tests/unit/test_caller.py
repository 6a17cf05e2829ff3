"""The caller every command takes: a token's holder as it is, the system named as such."""

from __future__ import annotations

from app.models import Classification, Role
from app.services.access.caller import Authority, Caller, actor_user_id
from app.services.access.tokens import Principal


def test_a_token_holder_calls_with_its_own_name_role_and_clearance():
    principal = Principal(
        token_id="t-1",
        tenant_id="acme",
        role=Role.RESPONDER,
        name="dana",
        clearance=Classification.INTERNAL,
    )

    assert Caller.of(principal) == Caller("acme", "dana", Role.RESPONDER, Classification.INTERNAL)


def test_the_system_and_a_linked_ticket_read_everything_and_hold_no_role():
    system = Caller.system("acme", actor="alertmanager")
    external = Caller.external("acme", actor="servicenow")

    assert (system.role, system.clearance) == (Authority.SYSTEM, Classification.RESTRICTED)
    assert (external.role, external.clearance) == (Authority.EXTERNAL, Classification.RESTRICTED)
    assert not isinstance(external.role, Role)
    assert [c.actor for c in (system, external)] == ["alertmanager", "servicenow"]


def test_a_shared_read_sees_what_its_clearance_reaches_and_holds_no_role():
    shared = Caller.shared("acme", clearance=Classification.CONFIDENTIAL)

    assert shared == Caller("acme", None, Authority.SHARED, Classification.CONFIDENTIAL)
    assert not isinstance(shared.role, Role)


def test_a_users_token_acts_as_the_user_whatever_the_tokens_name():
    user_id = "0b6f3d3e-8f0a-4d55-9a51-0e8f6b1f0a11"
    tokens = [
        Principal(
            token_id=f"t-{n}",
            tenant_id="acme",
            role=Role.INCIDENT_MANAGER,
            name=name,
            clearance=Classification.INTERNAL,
            user_id=user_id,
        )
        for n, name in enumerate(("dana", "dana's laptop"))
    ]

    actors = {Caller.of(p).actor for p in tokens}

    assert actors == {"usr_0b6f3d3e8f0a4d559a510e8f6b1f0a11"}
    assert actor_user_id(actors.pop()) == user_id
    assert [actor_user_id(a) for a in ("dana", None, "usr_nothex", "system")] == [None] * 4
