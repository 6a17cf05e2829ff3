"""Outbound message shapes: the ref in every text, Standard Webhooks signatures that the
reference library verifies, and which failures are worth a retry."""

from __future__ import annotations

import time

from standardwebhooks import Webhook

from app.core.backoff import backoff
from app.services.comms.adapters import Outbound, webhook_signature
from app.services.comms.destinations import new_webhook_secret

MESSAGE = Outbound(
    id="msg_1",
    short_ref="REF-20261204-7K2M",
    recipient="ops@example.com",
    subject="Incident 12 (P1): Checkout down",
    text="We are on it.",
    incident={"id": "x"},
)


def test_every_text_carries_its_ref():
    assert MESSAGE.title() == "[REF-20261204-7K2M] Incident 12 (P1): Checkout down"
    assert MESSAGE.body().endswith("\n\nRef: REF-20261204-7K2M")


def test_our_signature_verifies_with_the_reference_library():
    secret = new_webhook_secret()
    body = b'{"type":"com.incidents.comms.message.v1"}'
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": webhook_signature(secret, "msg_1", stamp, body),
    }
    assert Webhook(secret).verify(body, headers) == {"type": "com.incidents.comms.message.v1"}
    other = new_webhook_secret()
    try:
        Webhook(other).verify(body, headers)
    except Exception as error:
        assert "signature" in str(error).lower()
    else:
        raise AssertionError("a signature made with another secret verified")


def test_backoff_is_jittered_under_a_growing_ceiling_and_honours_retry_after():
    for attempt, ceiling in ((0, 5), (1, 10), (2, 20), (10, 600)):
        delays = [backoff(attempt, base=5, cap=600, retry_after=None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays) and len(set(delays)) > 100
    assert backoff(0, base=5, cap=600, retry_after=30) >= 30
    assert backoff(0, base=5, cap=600, retry_after=10_000) == 600
