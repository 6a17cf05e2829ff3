"""The tenant's event feed: every committed CloudEvent (incidents' and records' timelines)
in commit order, from a cursor, as pages and as a live stream."""
