"""Retention: how long a tenant keeps closed incidents, read-only and then purged, and the
legal holds that keep them whatever the retention says."""
