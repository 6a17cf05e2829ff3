"""An export reads incidents in keyset pages: every incident once, in number order, across
page boundaries, with one query per page."""

from __future__ import annotations

import uuid

from app.models import Classification, Impact, Role, Severity, Urgency
from app.services.access.caller import Caller
from app.services.access.tenants import create_tenant
from app.services.exports import incidents as export
from app.services.incidents.commands import declare_incident
from tests.support import connected


async def test_every_incident_once_in_order_across_pages(database_url, monkeypatch):
    async with connected(database_url):
        tenant = f"t-{uuid.uuid4().hex[:12]}"
        await create_tenant(tenant_id=tenant, name=tenant)
        caller = Caller(tenant, "ops", Role.ADMIN, Classification.RESTRICTED)
        for n in range(7):
            await declare_incident(
                caller=caller, title=f"incident {n}", severity=Severity.SEV3,
                impact=Impact.LOW, urgency=Urgency.LOW,
            )  # fmt: skip
        monkeypatch.setattr(export, "BATCH", 3)
        rows = [row async for row in export.rows(caller=caller, filter=None)]
    assert [r["number"] for r in rows] == [1, 2, 3, 4, 5, 6, 7]
    assert [r["title"] for r in rows] == [f"incident {n}" for n in range(7)]
    assert all(r["id"].startswith("inc_") for r in rows)
