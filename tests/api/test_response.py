"""Response coordination over a real server: incident roles with handovers on the timeline,
tasks with dependencies and progress, and the bad requests around them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.test_people import errors, new_user
from tests.support import Server, create_tenant, create_token, declare, transition

ROLE_FIELDS = """
incident { id commander version
  roles { role assignedBy user { id handle } }
  timeline(last: 3) { edges { node { type data } } } }
errors { field code message }
"""
ASSIGN = f"mutation($input: RoleInput!) {{ assignRole(input: $input) {{ {ROLE_FIELDS} }} }}"
UNASSIGN = f"mutation($input: RoleInput!) {{ unassignRole(input: $input) {{ {ROLE_FIELDS} }} }}"
TASK_FIELDS = """
task { id reference title group order status estimatedHours version owner { handle }
  dependsOn { reference } incident { id progress } }
errors { field code message }
"""
ADD = f"mutation($input: AddTaskInput!) {{ addTask(input: $input) {{ {TASK_FIELDS} }} }}"
UPDATE = f"mutation($input: UpdateTaskInput!) {{ updateTask(input: $input) {{ {TASK_FIELDS} }} }}"
MOVE = (
    "mutation($input: TransitionTaskInput!) "
    f"{{ transitionTask(input: $input) {{ {TASK_FIELDS} }} }}"
)
INCIDENT = """
query($id: ID!) { incident(id: $id) {
  progress tasks { reference title status dependsOn { reference } }
  timeline(last: 20) { edges { node { type data } } } } }
"""


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[dict[str, str]]:
    tenant_id = create_tenant(server, tenant_id=f"rsp-{uuid.uuid4().hex[:8]}", name="Response")
    yield {
        "id": tenant_id,
        "ADMIN": create_token(server, role="ADMIN", name="rsp admin", tenant=tenant_id),
        "RESPONDER": create_token(server, role="RESPONDER", name="rsp r", tenant=tenant_id),
        "VIEWER": create_token(server, role="VIEWER", name="rsp v", tenant=tenant_id),
        "STAKEHOLDER": create_token(server, role="STAKEHOLDER", name="rsp s", tenant=tenant_id),
    }


def events(incident: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["node"]["data"] for e in incident["timeline"]["edges"] if e["node"]["type"] == kind]


async def add(client: Any, incident_id: str, title: str, **fields: Any) -> dict[str, Any]:
    data = await client.execute(
        ADD, {"input": {"incidentId": incident_id, "title": title, **fields}}
    )
    assert data["addTask"]["errors"] == [], data
    return data["addTask"]["task"]  # type: ignore[no-any-return]


async def move(client: Any, task_id: str, to: str) -> dict[str, Any]:
    data = await client.execute(MOVE, {"input": {"id": task_id, "to": to}})
    return data["transitionTask"]  # type: ignore[no-any-return]


# --- roles ----------------------------------------------------------------------------------


async def test_a_commander_hands_over_and_every_role_change_is_on_the_timeline(api):
    # given an incident and three people
    admin, responder = api("ADMIN"), api("RESPONDER")
    ana, ben, cleo = [await new_user(admin) for _ in range(3)]
    incident = await declare(responder, title="Checkout down")

    # when Ana takes command, Ben and Cleo become experts, then Ben takes over command
    first = await responder.execute(
        ASSIGN, {"input": {"incidentId": incident["id"], "role": "COMMANDER", "userId": ana["id"]}}
    )
    for person in (ben, cleo):
        await responder.execute(
            ASSIGN,
            {
                "input": {
                    "incidentId": incident["id"],
                    "role": "SUBJECT_MATTER_EXPERT",
                    "userId": person["id"],
                }
            },
        )
    handover = await responder.execute(
        ASSIGN, {"input": {"incidentId": incident["id"], "role": "COMMANDER", "userId": ben["id"]}}
    )
    again = await responder.execute(
        ASSIGN, {"input": {"incidentId": incident["id"], "role": "COMMANDER", "userId": ben["id"]}}
    )

    # then the commander field follows the COMMANDER role
    assert first["assignRole"]["errors"] == []
    assert first["assignRole"]["incident"]["commander"] == ana["handle"]
    after = handover["assignRole"]["incident"]
    assert after["commander"] == ben["handle"]
    # and one commander at a time, the experts beside them
    held = [(r["role"], r["user"]["handle"]) for r in after["roles"]]
    assert held == [
        ("COMMANDER", ben["handle"]),
        ("SUBJECT_MATTER_EXPERT", ben["handle"]),
        ("SUBJECT_MATTER_EXPERT", cleo["handle"]),
    ]
    # and the handover is one event from Ana to Ben
    assert events(after, "com.incidents.role.assigned.v1")[-1] == {
        "role": "COMMANDER",
        "from": ana["id"],
        "to": ben["id"],
    }
    # and giving a role someone holds changes nothing
    assert again["assignRole"]["errors"] == []
    assert again["assignRole"]["incident"]["version"] == after["version"]

    # when Ben steps down as commander
    down = await responder.execute(
        UNASSIGN,
        {"input": {"incidentId": incident["id"], "role": "COMMANDER", "userId": ben["id"]}},
    )
    # then nobody commands, and the timeline says so
    left = down["unassignRole"]["incident"]
    assert left["commander"] is None
    assert [r["role"] for r in left["roles"]] == ["SUBJECT_MATTER_EXPERT"] * 2
    assert events(left, "com.incidents.role.assigned.v1")[-1] == {
        "role": "COMMANDER",
        "from": ben["id"],
        "to": None,
    }


async def test_bad_role_requests_are_refused_and_write_nothing(server, api, tenant):
    admin, responder, viewer = api("ADMIN"), api("RESPONDER"), api("VIEWER")
    user = await new_user(admin)
    gone = await new_user(admin)
    await admin.execute(
        "mutation($id: ID!) { deactivateUser(input: {id: $id}) { errors { code } } }",
        {"id": gone["id"]},
    )
    incident = await declare(responder, title="Roles")
    closed = await declare(responder, title="Over", severity="SEV4", impact="LOW", urgency="LOW")
    for status in ("IN_PROGRESS", "RESOLVED", "CLOSED"):
        extra = {"resolutionSummary": "ok"} if status == "RESOLVED" else {}
        assert (await transition(responder, closed["id"], status, **extra))["errors"] == []
    other_tenant = create_tenant(server, tenant_id=f"rsp-x-{uuid.uuid4().hex[:6]}", name="X")
    stranger = server.client(create_token(server, role="ADMIN", name="x", tenant=other_tenant))
    try:
        foreign = await new_user(stranger)
    finally:
        await stranger.aclose()

    def role(incident_id: str, user_id: str, name: str = "SCRIBE") -> dict[str, Any]:
        return {"input": {"incidentId": incident_id, "role": name, "userId": user_id}}

    cases = [
        (role(incident["id"], str(uuid.uuid4())), [("userId", "NOT_FOUND")]),
        (role(incident["id"], foreign["id"]), [("userId", "NOT_FOUND")]),
        (role(incident["id"], gone["id"]), [("userId", "VALIDATION")]),
        (role(str(uuid.uuid4()), user["id"]), [("incidentId", "NOT_FOUND")]),
        (role(closed["id"], user["id"]), [("id", "INVALID_TRANSITION")]),
    ]
    for variables, expected in cases:
        data = await responder.execute(ASSIGN, variables)
        assert errors(data["assignRole"]) == expected, (variables, data)
    not_held = await responder.execute(UNASSIGN, role(incident["id"], user["id"]))
    assert errors(not_held["unassignRole"]) == [("userId", "NOT_FOUND")]
    refused = await viewer.post(ASSIGN, role(incident["id"], user["id"]))
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # and nothing was written
    data = await responder.execute(INCIDENT, {"id": incident["id"]})
    kinds = [e["node"]["type"] for e in data["incident"]["timeline"]["edges"]]
    assert "com.incidents.role.assigned.v1" not in kinds


# --- tasks ----------------------------------------------------------------------------------


async def test_tasks_with_dependencies_make_the_incidents_progress(api):
    # given an incident with three tasks: deploy depends on fix, fix on diagnose
    admin, responder = api("ADMIN"), api("RESPONDER")
    owner = await new_user(admin)
    incident = await declare(responder, title="Payments slow")
    diagnose = await add(
        responder, incident["id"], "Find the slow query", estimatedHours=2, ownerId=owner["id"]
    )
    fix = await add(
        responder, incident["id"], "Add the index", estimatedHours=1, dependsOn=[diagnose["id"]]
    )
    deploy = await add(responder, incident["id"], "Deploy", group="Release", dependsOn=[fix["id"]])
    assert [diagnose["reference"], fix["reference"], deploy["reference"]] == [
        "TASK-1",
        "TASK-2",
        "TASK-3",
    ]
    assert diagnose["owner"] == {"handle": owner["handle"]}

    # when the last one is marked DONE first
    early = await move(responder, deploy["id"], "DONE")
    # then it is refused, naming what it waits for
    assert errors(early) == [("to", "INVALID_TRANSITION")]
    assert "TASK-2" in early["errors"][0]["message"]

    # when the work is done in order (the fix skipped: the diagnosis found another cause)
    steps = [
        (diagnose, "IN_PROGRESS", 0),
        (diagnose, "DONE", 50),  # 2 of 4 hours (deploy has no estimate: one hour)
        (fix, "SKIPPED", 66),  # 2 of 3
        (deploy, "DONE", 100),
    ]
    for task, to, progress in steps:
        moved = await move(responder, task["id"], to)
        assert moved["errors"] == [], moved
        assert moved["task"]["incident"]["progress"] == progress, (task["reference"], to)

    # then the incident lists its tasks and their history, and is not resolved by itself
    data = (await responder.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert [(t["reference"], t["status"]) for t in data["tasks"]] == [
        ("TASK-1", "DONE"),
        ("TASK-2", "SKIPPED"),
        ("TASK-3", "DONE"),
    ]
    assert data["tasks"][2]["dependsOn"] == [{"reference": "TASK-2"}]
    kinds = [e["node"]["type"] for e in data["timeline"]["edges"]]
    assert kinds.count("com.incidents.task.added.v1") == 3
    assert kinds.count("com.incidents.task.state_change.v1") == 4
    assert events(data, "com.incidents.task.state_change.v1")[-1] == {
        "task": deploy["id"],
        "number": 3,
        "from": "TODO",
        "to": "DONE",
    }
    status = await responder.execute(
        "query($id: ID!) { incident(id: $id) { status } }", {"id": incident["id"]}
    )
    assert status["incident"]["status"] == "OPEN"


async def test_progress_is_100_once_resolved_and_0_with_nothing_to_do(api):
    responder = api("RESPONDER")
    empty = await declare(responder, title="Nothing planned")
    planned = await declare(responder, title="Planned")
    await add(responder, planned["id"], "Look", estimatedHours=3)
    for status in ("IN_PROGRESS", "RESOLVED"):
        extra = {"resolutionSummary": "gone"} if status == "RESOLVED" else {}
        assert (await transition(responder, planned["id"], status, **extra))["errors"] == []

    query = "query($id: ID!) { incident(id: $id) { progress } }"
    assert (await responder.execute(query, {"id": empty["id"]}))["incident"]["progress"] == 0
    assert (await responder.execute(query, {"id": planned["id"]}))["incident"]["progress"] == 100


async def test_a_task_is_edited_and_a_dependency_cycle_is_refused(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Cycles")
    first = await add(responder, incident["id"], "One")
    second = await add(responder, incident["id"], "Two", dependsOn=[first["id"]])
    third = await add(responder, incident["id"], "Three", dependsOn=[second["id"]])

    edited = await responder.execute(
        UPDATE,
        {
            "input": {
                "id": first["id"],
                "version": first["version"],
                "title": "One, renamed",
                "estimatedHours": 4,
                "order": 9,
            }
        },
    )
    cycle = await responder.execute(
        UPDATE, {"input": {"id": first["id"], "dependsOn": [third["id"]]}}
    )
    stale = await responder.execute(
        UPDATE, {"input": {"id": first["id"], "version": first["version"], "title": "Late"}}
    )
    itself = await responder.execute(
        UPDATE, {"input": {"id": first["id"], "dependsOn": [first["id"]]}}
    )

    task = edited["updateTask"]["task"]
    assert edited["updateTask"]["errors"] == []
    assert (task["title"], task["estimatedHours"], task["order"]) == ("One, renamed", 4.0, 9)
    assert task["version"] == first["version"] + 1
    assert errors(cycle["updateTask"]) == [("dependsOn", "VALIDATION")]
    assert "TASK-1 -> TASK-3 -> TASK-2 -> TASK-1" in cycle["updateTask"]["errors"][0]["message"]
    assert errors(stale["updateTask"]) == [("version", "CONFLICT")]
    assert errors(itself["updateTask"]) == [("dependsOn", "VALIDATION")]
    data = (await responder.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert [t["reference"] for t in data["tasks"]] == ["TASK-2", "TASK-3", "TASK-1"]  # by order
    assert data["tasks"][2]["dependsOn"] == []
    assert [e["node"]["data"]["changes"] for e in data["timeline"]["edges"]
            if e["node"]["type"] == "com.incidents.task.updated.v1"] == [
        {
            "title": {"from": "One", "to": "One, renamed"},
            "order": {"from": 0, "to": 9},
            "estimatedHours": {"from": None, "to": 4.0},
        }
    ]  # fmt: skip


async def test_bad_task_requests_are_refused_and_write_nothing(api):
    responder, viewer = api("RESPONDER"), api("VIEWER")
    incident = await declare(responder, title="Bad tasks")
    other = await declare(responder, title="Another")
    elsewhere = await add(responder, other["id"], "Not here")

    def task(**fields: Any) -> dict[str, Any]:
        return {"input": {"incidentId": incident["id"], "title": "T", **fields}}

    cases = [
        (task(title="  "), [("title", "VALIDATION")]),
        (task(estimatedHours=0), [("estimatedHours", "VALIDATION")]),
        (task(estimatedHours=-2), [("estimatedHours", "VALIDATION")]),
        (task(order=-1), [("order", "VALIDATION")]),
        (task(group="g" * 65), [("group", "VALIDATION")]),
        (task(ownerId=str(uuid.uuid4())), [("ownerId", "NOT_FOUND")]),
        (task(dependsOn=[elsewhere["id"]]), [("dependsOn", "NOT_FOUND")]),
        (task(incidentId=str(uuid.uuid4())), [("incidentId", "NOT_FOUND")]),
    ]
    for variables, expected in cases:
        data = await responder.execute(ADD, variables)
        assert errors(data["addTask"]) == expected, (variables, data)
    unknown = await move(responder, str(uuid.uuid4()), "DONE")
    assert errors(unknown) == [("id", "NOT_FOUND")]
    refused = await viewer.post(ADD, task())
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    data = (await responder.execute(INCIDENT, {"id": incident["id"]}))["incident"]
    assert data["tasks"] == []
    kinds = {e["node"]["type"] for e in data["timeline"]["edges"]}
    assert not any(k.startswith("com.incidents.task.") for k in kinds)


async def test_an_incident_holds_at_most_500_tasks(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Too many")
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> None:
        async with gate:
            await add(responder, incident["id"], f"Task {n}")

    await asyncio.gather(*(one(n) for n in range(500)))
    over = await responder.execute(ADD, {"input": {"incidentId": incident["id"], "title": "501"}})

    assert errors(over["addTask"]) == [("incidentId", "VALIDATION")]
    data = await responder.execute(
        "query($id: ID!) { incident(id: $id) { tasks { number } } }", {"id": incident["id"]}
    )
    numbers = sorted(t["number"] for t in data["incident"]["tasks"])
    assert numbers == list(range(1, 501))  # concurrent adds: each its own number, none lost


async def test_tasks_of_a_confidential_incident_read_redacted_below_it(api):
    admin, viewer = api("ADMIN"), api("VIEWER")
    incident = await declare(admin, title="Secret", classification="CONFIDENTIAL")
    secret = await add(admin, incident["id"], "Rotate the leaked key", group="Security")

    data = await viewer.execute(
        "query($id: ID!) { node(id: $id) { ... on Task { title group redactedFields } } }",
        {"id": secret["id"]},
    )
    assert data["node"] == {
        "title": "[REDACTED]",
        "group": "[REDACTED]",
        "redactedFields": ["title", "description", "group", "owner"],
    }


# --- categorisation -------------------------------------------------------------------------

CATEGORY_FIELDS = "id category subcategory detectionSource version"


async def test_an_incident_is_categorised_changed_filtered_and_cleared(api):
    responder = api("RESPONDER")
    marker = uuid.uuid4().hex[:8]
    declared = await responder.execute(
        f"mutation($input: DeclareIncidentInput!) {{ declareIncident(input: $input) "
        f"{{ incident {{ {CATEGORY_FIELDS} }} errors {{ code }} }} }}",
        {
            "input": {
                "title": f"Cert expired {marker}",
                "severity": "SEV2",
                "impact": "HIGH",
                "urgency": "MEDIUM",
                "category": "SECURITY",
                "subcategory": "TLS certificate",
                "detectionSource": "USER_REPORT",
            }
        },
    )
    incident = declared["declareIncident"]["incident"]
    assert (incident["category"], incident["subcategory"], incident["detectionSource"]) == (
        "SECURITY",
        "TLS certificate",
        "USER_REPORT",
    )
    update = (
        f"mutation($input: UpdateIncidentInput!) {{ updateIncident(input: $input) "
        f"{{ incident {{ {CATEGORY_FIELDS} }} errors {{ field code }} }} }}"
    )
    changed = await responder.execute(
        update, {"input": {"id": incident["id"], "category": "NETWORK"}}
    )
    listed = await responder.execute(
        "query($f: IncidentFilter) { incidents(filter: $f, first: 50) { edges { node { id } } } }",
        {"f": {"category": ["NETWORK"], "text": marker}},
    )
    other = await responder.execute(
        "query($f: IncidentFilter) { incidents(filter: $f, first: 50) { totalCount } }",
        {"f": {"category": ["SECURITY", "HARDWARE"], "text": marker}},
    )
    too_long = await responder.execute(
        update, {"input": {"id": incident["id"], "subcategory": "x" * 129}}
    )
    cleared = await responder.execute(
        update, {"input": {"id": incident["id"], "category": None, "subcategory": None}}
    )

    after = changed["updateIncident"]["incident"]
    assert (after["category"], after["subcategory"]) == ("NETWORK", "TLS certificate")
    assert [e["node"]["id"] for e in listed["incidents"]["edges"]] == [incident["id"]]
    assert other["incidents"]["totalCount"] == 0
    assert errors(too_long["updateIncident"]) == [("subcategory", "VALIDATION")]
    gone = cleared["updateIncident"]["incident"]
    assert (gone["category"], gone["subcategory"], gone["detectionSource"]) == (
        None,
        None,
        "USER_REPORT",
    )
    assert gone["version"] == after["version"] + 1  # the refused change wrote nothing


# --- playbooks ------------------------------------------------------------------------------

PLAYBOOK = "playbook { id name version autoApply active tasks { title order dependsOn } }"
CREATE_PLAYBOOK = (
    "mutation($input: CreatePlaybookInput!) { createPlaybook(input: $input) "
    f"{{ {PLAYBOOK} errors {{ field code message }} }} }}"
)
UPDATE_PLAYBOOK = (
    "mutation($input: UpdatePlaybookInput!) { updatePlaybook(input: $input) "
    f"{{ {PLAYBOOK} errors {{ field code message }} }} }}"
)
APPLY = """
mutation($input: ApplyPlaybookInput!) { applyPlaybook(input: $input) {
  incident { id progress tasks { number title group status dependsOn { number } dueAt }
    timeline(last: 1) { edges { node { type data } } } }
  errors { field code message } } }
"""
OUTAGE_TASKS = [
    {"title": "Page the database on-call", "group": "Triage", "estimatedHours": 0.5,
     "dueInMinutes": 15},
    {"title": "Fail over", "group": "Mitigation", "estimatedHours": 1, "dependsOn": [0]},
    {"title": "Tell customers", "group": "Comms", "dependsOn": [0]},
]  # fmt: skip


async def new_playbook(client: Any, **fields: Any) -> dict[str, Any]:
    name = fields.pop("name", f"Playbook {uuid.uuid4().hex[:6]}")
    tasks = fields.pop("tasks", OUTAGE_TASKS)
    data = await client.execute(
        CREATE_PLAYBOOK, {"input": {"name": name, "tasks": tasks, **fields}}
    )
    assert data["createPlaybook"]["errors"] == [], data
    return data["createPlaybook"]["playbook"]  # type: ignore[no-any-return]


async def test_a_playbook_applied_adds_its_tasks_once_per_version(api):
    # given a database outage playbook and an incident
    manager, responder = api("ADMIN"), api("RESPONDER")
    playbook = await new_playbook(manager)
    incident = await declare(responder, title="Primary database down")

    # when it is applied twice
    first = (await responder.execute(
        APPLY, {"input": {"incidentId": incident["id"], "playbookId": playbook["id"]}}
    ))["applyPlaybook"]  # fmt: skip
    again = (await responder.execute(
        APPLY, {"input": {"incidentId": incident["id"], "playbookId": playbook["id"]}}
    ))["applyPlaybook"]  # fmt: skip

    # then its three tasks are there once, with their groups, dependencies and due times
    assert first["errors"] == [] and again["errors"] == []
    tasks = first["incident"]["tasks"]
    assert [(t["number"], t["title"], t["group"]) for t in tasks] == [
        (1, "Page the database on-call", "Triage"),
        (2, "Fail over", "Mitigation"),
        (3, "Tell customers", "Comms"),
    ]
    assert [[d["number"] for d in t["dependsOn"]] for t in tasks] == [[], [1], [1]]
    assert tasks[0]["dueAt"] is not None and tasks[1]["dueAt"] is None
    [applied] = [e["node"] for e in first["incident"]["timeline"]["edges"]]
    assert applied["type"] == "com.incidents.playbook.applied.v1"
    assert applied["data"]["tasks"] == 3 and applied["data"]["version"] == 1
    assert again["incident"]["tasks"] == tasks

    # when the playbook changes, its new version applies once more
    changed = await manager.execute(
        UPDATE_PLAYBOOK, {"input": {"id": playbook["id"], "tasks": OUTAGE_TASKS[:1]}}
    )
    assert changed["updatePlaybook"]["playbook"]["version"] == 2
    second = (await responder.execute(
        APPLY, {"input": {"incidentId": incident["id"], "playbookId": playbook["id"]}}
    ))["applyPlaybook"]  # fmt: skip
    assert [t["number"] for t in second["incident"]["tasks"]] == [1, 2, 3, 4]


async def test_a_matching_playbook_applies_itself_when_an_incident_is_declared(api):
    # given a playbook for security incidents of SEV1 or SEV2
    manager, responder = api("ADMIN"), api("RESPONDER")
    await new_playbook(
        manager,
        name=f"Security {uuid.uuid4().hex[:6]}",
        tasks=[{"title": "Rotate credentials"}, {"title": "Preserve evidence"}],
        matchCategories=["SECURITY"],
        matchSeverities=["SEV1", "SEV2"],
        autoApply=True,
    )
    declare_input = "mutation($input: DeclareIncidentInput!) { declareIncident(input: $input) "
    declare_input += "{ incident { id } errors { code } } }"

    async def declared(**fields: Any) -> str:
        base = {"title": "Suspicious logins", "impact": "HIGH", "urgency": "HIGH"}
        data = await responder.execute(declare_input, {"input": {**base, **fields}})
        return data["declareIncident"]["incident"]["id"]  # type: ignore[no-any-return]

    # when a matching incident is declared, and two that do not match
    matching = await declared(severity="SEV1", category="SECURITY")
    minor = await declared(severity="SEV3", category="SECURITY")
    other = await declared(severity="SEV1", category="NETWORK")

    # then the matching one gets the playbook's tasks within moments, the others none
    query = "query($id: ID!) { incident(id: $id) { tasks { title } } }"
    for _ in range(50):
        tasks = (await responder.execute(query, {"id": matching}))["incident"]["tasks"]
        if tasks:
            break
        await asyncio.sleep(0.1)
    assert [t["title"] for t in tasks] == ["Rotate credentials", "Preserve evidence"]
    for incident_id in (minor, other):
        assert (await responder.execute(query, {"id": incident_id}))["incident"]["tasks"] == []


async def test_bad_playbooks_and_applications_are_refused_and_write_nothing(api):
    manager, responder = api("ADMIN"), api("RESPONDER")
    name = f"Bad {uuid.uuid4().hex[:6]}"
    await new_playbook(manager, name=name)
    cases = [
        ({"name": "x", "tasks": []}, "tasks"),
        ({"name": "x", "tasks": [{"title": "a", "dependsOn": [1]}]}, "tasks[0].dependsOn"),
        ({"name": "x", "tasks": [{"title": "a", "dependsOn": [0]}]}, "tasks[0].dependsOn"),
        ({"name": "x", "tasks": [{"title": "a", "dependsOn": [1]},
                                 {"title": "b", "dependsOn": [0]}]}, "tasks"),
        ({"name": "x", "tasks": [{"title": " "}]}, "tasks[0].title"),
        ({"name": "x", "tasks": [{"title": "a", "estimatedHours": -1}]}, "tasks[0].estimatedHours"),
        ({"name": name.upper(), "tasks": [{"title": "a"}]}, "name"),
        ({"name": "x", "tasks": [{"title": "a"}], "matchServiceIds": [str(uuid.uuid4())]},
         "matchServiceIds"),
    ]  # fmt: skip
    for variables, field in cases:
        data = await manager.execute(CREATE_PLAYBOOK, {"input": variables})
        assert [e["field"] for e in data["createPlaybook"]["errors"]] == [field], (variables, data)
    refused = await responder.post(
        CREATE_PLAYBOOK, {"input": {"name": "r", "tasks": [{"title": "a"}]}}
    )
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # and a closed incident, or a retired playbook, takes no application
    playbook = await new_playbook(manager)
    closed = await declare(responder, title="Done", severity="SEV4", impact="LOW", urgency="LOW")
    for status in ("IN_PROGRESS", "RESOLVED", "CLOSED"):
        extra = {"resolutionSummary": "ok"} if status == "RESOLVED" else {}
        assert (await transition(responder, closed["id"], status, **extra))["errors"] == []
    late = await responder.execute(
        APPLY, {"input": {"incidentId": closed["id"], "playbookId": playbook["id"]}}
    )
    assert errors(late["applyPlaybook"]) == [("id", "INVALID_TRANSITION")]
    await manager.execute(UPDATE_PLAYBOOK, {"input": {"id": playbook["id"], "active": False}})
    open_ = await declare(responder, title="Open")
    retired = await responder.execute(
        APPLY, {"input": {"incidentId": open_["id"], "playbookId": playbook["id"]}}
    )
    assert errors(retired["applyPlaybook"]) == [("playbookId", "VALIDATION")]
    listed = await manager.execute(
        "{ playbooks(first: 100) { totalCount edges { node { name } } } }"
    )
    names = [e["node"]["name"] for e in listed["playbooks"]["edges"]]
    assert "x" not in names and name in names


# --- drills and tools -----------------------------------------------------------------------

DECLARE_DRILL = """
mutation($input: DeclareIncidentInput!) { declareIncident(input: $input) {
  incident { id isDrill drillScenario drillScope drillOutcome } errors { field code message } } }
"""
TOOL = """
mutation($input: RecordToolUsageInput!) { recordToolUsage(input: $input) {
  incident { timeline(last: 1) { edges { node { type data } } } } errors { field code } } }
"""
OUTCOME = """
mutation($input: RecordDrillOutcomeInput!) { recordDrillOutcome(input: $input) {
  incident { drillOutcome timeline(last: 1) { edges { node { type data } } } }
  errors { field code } } }
"""
CUSTOMER = "{ statusBoard(persona: CUSTOMER) { ... on CustomerBoard { services { service } } } }"


async def test_a_drill_runs_like_an_incident_but_customers_never_see_it(api):
    manager, responder = api("ADMIN"), api("RESPONDER")
    marker = uuid.uuid4().hex[:6]
    drill = {
        "title": "Region failover rehearsal",
        "severity": "SEV1",
        "impact": "HIGH",
        "urgency": "HIGH",
        "service": f"drillsvc-{marker}",
        "isDrill": True,
        "drillScenario": "eu-west-1 lost",
        "drillScope": "payments only",
    }

    # when a responder tries, and an incident manager declares a drill and records its outcome
    refused = await responder.post(DECLARE_DRILL, {"input": drill})
    unexplained = await manager.execute(DECLARE_DRILL, {"input": {**drill, "drillScenario": "  "}})
    declared = await manager.execute(DECLARE_DRILL, {"input": drill})
    real = await declare(responder, title="Real", severity="SEV1", service=f"realsvc-{marker}")
    incident = declared["declareIncident"]["incident"]
    outcome = await manager.execute(
        OUTCOME,
        {
            "input": {
                "incidentId": incident["id"],
                "outcome": "Failover took 14 min",
                "passed": False,
            }
        },
    )
    on_real = await manager.execute(
        OUTCOME, {"input": {"incidentId": real["id"], "outcome": "n/a", "passed": True}}
    )
    board = await manager.execute(CUSTOMER)

    # then only managers run drills, with a scenario
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert errors(unexplained["declareIncident"]) == [("drillScenario", "VALIDATION")]
    assert incident["isDrill"] is True
    assert (incident["drillScenario"], incident["drillScope"]) == (
        "eu-west-1 lost",
        "payments only",
    )
    # and the outcome is recorded on drills only
    recorded = outcome["recordDrillOutcome"]["incident"]
    assert recorded["drillOutcome"] == "Failover took 14 min"
    [event] = [e["node"] for e in recorded["timeline"]["edges"]]
    assert event == {
        "type": "com.incidents.drill.outcome_recorded.v1",
        "data": {"outcome": "Failover took 14 min", "passed": False},
    }
    assert errors(on_real["recordDrillOutcome"]) == [("incidentId", "VALIDATION")]
    # and the customer board shows the real incident's service, never the drill's
    services = [s["service"] for s in board["statusBoard"]["services"]]
    assert f"realsvc-{marker}" in services and f"drillsvc-{marker}" not in services


async def test_tools_used_are_recorded_on_the_timeline(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Slow queries")

    used = await responder.execute(
        TOOL,
        {
            "input": {
                "incidentId": incident["id"],
                "tool": "DATABASE_CONSOLE",
                "summary": "pg_stat_activity: 40 idle in transaction",
                "outcome": "HELPED",
            }
        },
    )
    empty = await responder.execute(
        TOOL,
        {
            "input": {
                "incidentId": incident["id"],
                "tool": "LOGS",
                "summary": " ",
                "outcome": "HELPED",
            }
        },
    )

    [event] = [e["node"] for e in used["recordToolUsage"]["incident"]["timeline"]["edges"]]
    assert event == {
        "type": "com.incidents.tool.used.v1",
        "data": {
            "tool": "DATABASE_CONSOLE",
            "summary": "pg_stat_activity: 40 idle in transaction",
            "outcome": "HELPED",
        },
    }
    assert errors(empty["recordToolUsage"]) == [("summary", "VALIDATION")]


ENGAGE = """
mutation($input: EngageVendorInput!) { engageVendor(input: $input) {
  incident { status vendorEngagements { vendor contactMethod reference engagedBy }
    timeline(last: 3) { edges { node { type data } } } }
  errors { field code } } }
"""


async def test_engaging_a_vendor_records_them_and_waits_pending(api):
    responder = api("RESPONDER")
    incident = await declare(responder, title="Carrier link down")
    assert (await transition(responder, incident["id"], "IN_PROGRESS"))["errors"] == []

    def engage(vendor: str, method: str, reference: str | None = None) -> dict[str, Any]:
        return {
            "input": {
                "incidentId": incident["id"],
                "vendor": vendor,
                "contactMethod": method,
                "reference": reference,
            }
        }

    first = (await responder.execute(ENGAGE, engage("Telco", "PHONE", "CASE-881")))["engageVendor"]
    second = (await responder.execute(ENGAGE, engage("Router Co", "VENDOR_PORTAL")))["engageVendor"]
    nameless = (await responder.execute(ENGAGE, engage(" ", "EMAIL")))["engageVendor"]

    assert first["errors"] == [] and first["incident"]["status"] == "PENDING"
    kinds = [e["node"]["type"] for e in first["incident"]["timeline"]["edges"]]
    assert kinds[-2:] == ["com.incidents.state_change.v1", "com.incidents.vendor.engaged.v1"]
    state = first["incident"]["timeline"]["edges"][-2]["node"]["data"]
    assert (state["to"], state["reason"]) == ("PENDING", "VENDOR")
    assert second["errors"] == [] and second["incident"]["status"] == "PENDING"
    engaged = second["incident"]["vendorEngagements"]
    assert [(e["vendor"], e["contactMethod"], e["reference"]) for e in engaged] == [
        ("Telco", "PHONE", "CASE-881"),
        ("Router Co", "VENDOR_PORTAL", None),
    ]
    assert errors(nameless) == [("vendor", "VALIDATION")]


# --- priority override ----------------------------------------------------------------------

OVERRIDE = """
mutation($input: OverridePriorityInput!) { overridePriority(input: $input) {
  incident { priority derivedPriority priorityOverridden priorityOverrideReason slaResolveDue
    timeline(last: 1) { edges { node { type data } } } }
  errors { field code } } }
"""
UPDATE_INCIDENT = """
mutation($input: UpdateIncidentInput!) { updateIncident(input: $input) {
  incident { priority derivedPriority priorityOverridden } errors { field code } } }
"""


async def test_a_priority_override_needs_a_reason_stays_and_is_given_back(api):
    manager, responder = api("ADMIN"), api("RESPONDER")
    incident = await declare(responder, title="Board meeting demo broken", severity="SEV4",
                             impact="LOW", urgency="LOW")  # fmt: skip

    def override(**fields: Any) -> dict[str, Any]:
        return {"input": {"id": incident["id"], **fields}}

    refused = await responder.post(OVERRIDE, override(priority="P1", justification="CEO demo"))
    bare = (await manager.execute(OVERRIDE, override(priority="P1")))["overridePriority"]
    done = (await manager.execute(
        OVERRIDE, override(priority="P1", justification="CEO demo at 14:00")
    ))["overridePriority"]  # fmt: skip
    changed = (await responder.execute(
        UPDATE_INCIDENT, {"input": {"id": incident["id"], "urgency": "HIGH"}}
    ))["updateIncident"]  # fmt: skip
    back = (await manager.execute(OVERRIDE, override(priority=None)))["overridePriority"]
    again = (await manager.execute(OVERRIDE, override(priority=None)))["overridePriority"]

    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert errors(bare) == [("justification", "VALIDATION")]
    held = done["incident"]
    assert (held["priority"], held["derivedPriority"], held["priorityOverridden"]) == (
        "P1",
        "P5",
        True,
    )
    assert held["priorityOverrideReason"] == "CEO demo at 14:00"
    [event] = [e["node"] for e in held["timeline"]["edges"]]
    assert event["type"] == "com.incidents.priority_overridden.v1"
    assert event["data"] == {
        "from": "P5", "to": "P1", "derived": "P5", "overridden": True,
        "justification": "CEO demo at 14:00",
    }  # fmt: skip
    # a later change re-derives beside it, the override stays (the tenant did not say otherwise)
    assert (changed["incident"]["priority"], changed["incident"]["derivedPriority"]) == ("P1", "P3")
    assert back["incident"]["priority"] == "P3" and back["incident"]["priorityOverridden"] is False
    assert back["incident"]["slaResolveDue"] != held["slaResolveDue"]
    assert errors(again) == [("priority", "VALIDATION")]


async def test_the_responder_board_shows_progress_tasks_and_roles(api):
    admin, responder = api("ADMIN"), api("RESPONDER")
    lead = await new_user(admin)
    incident = await declare(responder, title="Board view", severity="SEV1")
    small = await add(responder, incident["id"], "Small", estimatedHours=1)
    big = await add(responder, incident["id"], "Big", estimatedHours=3)
    await add(responder, incident["id"], "Stuck", estimatedHours=4)
    assert (await move(responder, big["id"], "DONE"))["errors"] == []
    assert (await move(responder, small["id"], "BLOCKED"))["errors"] == []
    await responder.execute(
        ASSIGN, {"input": {"incidentId": incident["id"], "role": "COMMANDER", "userId": lead["id"]}}
    )

    board = await responder.execute(
        "{ statusBoard(persona: RESPONDER) { ... on ResponderBoard { incidents { id progress "
        "tasks { todo inProgress blocked done skipped } roles { role handle } "
        "escalationLevel } } } }"
    )

    [mine] = [i for i in board["statusBoard"]["incidents"] if i["id"] == incident["id"]]
    assert mine["progress"] == 37  # 3 of 8 hours
    assert mine["tasks"] == {"todo": 1, "inProgress": 0, "blocked": 1, "done": 1, "skipped": 0}
    assert mine["roles"] == [{"role": "COMMANDER", "handle": lead["handle"]}]
    assert mine["escalationLevel"] == 0
