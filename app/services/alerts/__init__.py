"""Alert intake: payloads, the durable intake writer, the processor and correlation rules.

The intake writer wakes the processor (of this process) after each durable write, through
the waker the processor registers here.
"""

from __future__ import annotations

from collections.abc import Callable

_waker: Callable[[], None] | None = None


def set_waker(wake: Callable[[], None] | None) -> None:
    global _waker
    _waker = wake


def wake() -> None:
    if _waker is not None:
        _waker()
