"""Linked ITSM tickets: connectors to ServiceNow and Jira, field mapping, sync and conflicts."""
