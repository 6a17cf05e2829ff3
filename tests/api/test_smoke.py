from tests.support import declare


async def test_declare_returns_an_open_incident(client):
    incident = await declare(client, title="Smoke")
    assert incident["status"] == "OPEN"
