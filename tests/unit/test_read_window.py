"""Restricted reads are recorded once per reader, incident and field in each window."""

from __future__ import annotations

from app.services.access.audit import Origin, ReadWindow

ALICE = Origin(actor="alice", token_id="t1")
ALICE_OTHER_TOKEN = Origin(actor="alice", token_id="t2")
READ = ("acme", "incident-1", "incidents")
OTHER_FIELD = ("acme", "incident-1", "node")


def test_a_read_is_due_once_a_window_for_each_reader_token_and_field():
    window = ReadWindow(seconds=300)
    assert window.take([READ, OTHER_FIELD], ALICE, now=0) == [READ, OTHER_FIELD]
    assert window.take([READ, OTHER_FIELD], ALICE, now=299) == []
    assert window.take([READ], ALICE_OTHER_TOKEN, now=299) == [READ]
    assert window.take([READ, OTHER_FIELD], ALICE, now=300) == [READ, OTHER_FIELD]


def test_a_failed_write_is_forgotten_so_the_next_read_records_it():
    window = ReadWindow(seconds=300)
    taken = window.take([READ], ALICE, now=0)
    window.forget(taken, ALICE)
    assert window.take([READ], ALICE, now=1) == [READ]


def test_a_window_of_zero_records_every_read_and_an_unknown_actor_always():
    assert ReadWindow(seconds=0).take([READ], ALICE, now=0) == [READ]
    every = ReadWindow(seconds=0)
    every.take([READ], ALICE, now=0)
    assert every.take([READ], ALICE, now=0) == [READ]
    anonymous = Origin(actor=None)
    window = ReadWindow(seconds=300)
    window.take([READ], anonymous, now=0)
    assert window.take([READ], anonymous, now=1) == [READ]


def test_what_is_remembered_stays_bounded():
    window = ReadWindow(seconds=10)
    for n in range(ReadWindow._SWEEP_AT):
        window.take([("acme", f"incident-{n}", "incidents")], ALICE, now=0)
    window.take([READ], ALICE, now=11)
    assert window.take([("acme", "incident-0", "incidents")], ALICE, now=12) == [
        ("acme", "incident-0", "incidents")
    ]
    assert len(window._recorded) <= 2
