"""Signals: senders ring, connected receivers hear it, a failing one harms nobody."""

from __future__ import annotations

import logging

import pytest

from app.core.signal import Signal


def test_every_connected_receiver_hears_each_send_until_it_disconnects():
    # given two receivers on one signal
    signal: Signal[str] = Signal("test.rung")
    heard: list[tuple[str, str]] = []
    stop_first = signal.connect(lambda v: heard.append(("first", v)))
    signal.connect(lambda v: heard.append(("second", v)))

    # when it is rung, the first disconnects (twice: harmless), and it is rung again
    signal.send("a")
    stop_first()
    stop_first()
    signal.send("b")

    # then both heard the first, only the second heard the next
    assert heard == [("first", "a"), ("second", "a"), ("second", "b")]


def test_nobody_listening_is_no_error():
    Signal[None]("test.alone").send(None)


def test_a_failing_receiver_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture):
    signal: Signal[int] = Signal("test.fragile")
    heard: list[int] = []

    def broken(_: int) -> None:
        raise RuntimeError("receiver broke")

    signal.connect(broken)
    signal.connect(heard.append)

    with caplog.at_level(logging.ERROR, logger="incidentgraph.signal"):
        signal.send(7)

    assert heard == [7]
    assert "a receiver of test.fragile failed" in caplog.text
