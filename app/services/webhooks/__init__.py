"""Outbound webhooks (Standard Webhooks): endpoints following the tenant's event feed, each
event a delivery attempted at least once, signed, retried, dead-lettered."""
