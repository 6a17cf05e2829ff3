"""ChatOps: working on incidents from chat (Slack slash commands)."""
