"""Fake ITSM products (ServiceNow, Jira) on loopback sockets, for tests."""
