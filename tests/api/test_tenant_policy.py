"""A tenant edits its priority matrix and SLA targets; incidents follow."""

from __future__ import annotations

import pytest

from tests.support import declare

POLICY = """
{ tenantPolicy { matrix { impact urgency priority } severityFloor { severity priority }
                 sla { priority responseMinutes resolveMinutes } } }
"""

UPDATE_POLICY = """
mutation Update($input: UpdateTenantPolicyInput!) {
  updateTenantPolicy(input: $input) {
    policy { matrix { impact urgency priority } sla { priority responseMinutes resolveMinutes } }
    errors { field code message }
  }
}
"""

RESTORE = {
    "matrix": [{"impact": "LOW", "urgency": "LOW", "priority": "P5"}],
    "sla": [{"priority": "P2", "responseMinutes": 30, "resolveMinutes": 480}],
}


@pytest.fixture
async def restore_policy(client):
    yield
    data = await client.execute(UPDATE_POLICY, {"input": RESTORE})
    assert data["updateTenantPolicy"]["errors"] == []


async def test_default_policy_is_the_itil_matrix(client):
    # when
    policy = (await client.execute(POLICY))["tenantPolicy"]

    # then
    cells = {(c["impact"], c["urgency"]): c["priority"] for c in policy["matrix"]}
    assert cells[("HIGH", "HIGH")] == "P1"
    assert cells[("MEDIUM", "MEDIUM")] == "P3"
    assert cells[("LOW", "LOW")] == "P5"
    sla = {s["priority"]: (s["responseMinutes"], s["resolveMinutes"]) for s in policy["sla"]}
    assert sla["P1"] == (15, 240)


async def test_an_edited_matrix_cell_decides_new_incidents_priority(client, restore_policy):
    # given LOW x LOW raised to P4 and P2 given a 10 minute response target
    data = await client.execute(
        UPDATE_POLICY,
        {
            "input": {
                "matrix": [{"impact": "LOW", "urgency": "LOW", "priority": "P4"}],
                "sla": [{"priority": "P2", "responseMinutes": 10, "resolveMinutes": 60}],
            }
        },
    )
    assert data["updateTenantPolicy"]["errors"] == []

    # when a LOW x LOW SEV4 incident is declared
    incident = await declare(client, title="Minor", severity="SEV4", impact="LOW", urgency="LOW")

    # then it gets the tenant's priority
    assert incident["priority"] == "P4"


async def test_invalid_sla_targets_are_refused_and_nothing_changes(client):
    # given
    before = (await client.execute(POLICY))["tenantPolicy"]

    # when
    for minutes in (-5, 0, 1e30):
        data = await client.execute(
            UPDATE_POLICY,
            {
                "input": {
                    "sla": [{"priority": "P1", "responseMinutes": minutes, "resolveMinutes": 60}]
                }
            },
        )

        # then
        errors = data["updateTenantPolicy"]["errors"]
        assert [e["code"] for e in errors] == ["VALIDATION"], minutes
    assert (await client.execute(POLICY))["tenantPolicy"] == before
