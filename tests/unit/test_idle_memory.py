"""`python -m bench.idle_memory` credits each allocation to the package whose code made it."""

from __future__ import annotations

import tracemalloc

import pytest

from bench.idle_memory import Breakdown, breakdown, main, owner, render

SITE = "/work/p/.venv/lib/python3.11/site-packages"


def test_a_frame_is_credited_to_its_package_or_to_the_app():
    assert owner(f"{SITE}/uvicorn/protocols/websockets/websockets_sansio_impl.py") == "uvicorn"
    assert owner(f"{SITE}/strawberry/extensions/context.py") == "strawberry"
    assert owner("/work/p/app/pubsub/broker.py") == "app"
    # the standard library and packages outside the list are nobody's
    assert owner("/usr/lib/python3.11/asyncio/queues.py") is None
    assert owner(f"{SITE}/httpx/_client.py") is None


def test_growth_is_shared_out_per_subscription():
    # given memory allocated between two snapshots by this test (no package's code)
    tracemalloc.start(4)
    try:
        before = tracemalloc.take_snapshot()
        held = [bytearray(10_000) for _ in range(10)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # when it is shared out among 10 subscriptions
    result = breakdown(before, after, 10)
    # then the 100 KB grown is the standard library's, at least 10 KB per subscription
    assert dict(result.by_package)["stdlib"] >= 100_000
    assert result.total >= 100_000
    assert "per subscription" in render(result)
    assert held


def test_the_report_lists_packages_most_first():
    result = Breakdown(2, [("strawberry", 4096), ("app", 2048)], [("app: app/x.py:1", 2048)])
    text = render(result)
    assert "**3.0 KB**" in text
    assert text.index("| strawberry | 2.0 KB |") < text.index("| app | 1.0 KB |")


def test_no_subscribers_is_refused(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--subscribers", "0"])
    assert exit.value.code == 2
    assert "at least 1" in capsys.readouterr().err
