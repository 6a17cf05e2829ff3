"""Incidents: commands (declare, lifecycle, assign, notes), merge, the snapshot every
event carries, the timeline, search, SLA clocks, the tenant's policy and live streams."""
