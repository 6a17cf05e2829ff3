"""Signals: a process-local way for one part to tell others that something happened.

A sender does not know who listens (the incident core does not know the ticket sync, the
intake does not know the processor); receivers connect when they start and disconnect when
they stop. A receiver runs synchronously in the sender's task, so it must only note the
fact (set an event, queue an item). One failing receiver is logged and does not stop the
others, nor fail the sender: what the sender did has already committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("incidentgraph.signal")


class Signal(Generic[T]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[[T], None]] = []

    def connect(self, receiver: Callable[[T], None]) -> Callable[[], None]:
        """Call `receiver(value)` on each send; returns the function that disconnects it."""
        self._receivers.append(receiver)

        def disconnect() -> None:
            if receiver in self._receivers:
                self._receivers.remove(receiver)

        return disconnect

    def send(self, value: T) -> None:
        for receiver in tuple(self._receivers):
            try:
                receiver(value)
            except Exception:
                log.exception("a receiver of %s failed", self.name)

    def __repr__(self) -> str:
        return f"Signal({self.name!r}, receivers={len(self._receivers)})"
