"""Response coordination around an incident: roles and tasks."""
