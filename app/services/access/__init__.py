"""Who may do what: tenants, API tokens, roles and permissions, clearance and
classification, and the audit log."""
