"""Exports: a tenant's incidents (CSV, NDJSON) and an incident's timeline (NDJSON), streamed
in keyset pages so memory stays flat whatever their number, redacted for whoever asks."""
