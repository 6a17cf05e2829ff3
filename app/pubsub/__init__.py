"""Transport for live events: the broker hub, channel names and the outbox relay."""
