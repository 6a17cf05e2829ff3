"""Alert intake: payloads, the durable intake writer, the processor and correlation rules.

The intake writer rings `intake_written` after each durable write; the processor of this
process listens while it runs (without one, the next poll finds the rows).
"""

from __future__ import annotations

from app.core.signal import Signal

intake_written: Signal[None] = Signal("alerts.intake_written")
