"""The caller every command takes: a token's holder as it is, the system named as such."""

from __future__ import annotations

from app.models import Classification, Role
from app.services.access.caller import Authority, Caller
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
