"""Status boards: the persona views over a tenant's incidents, and their live updates."""
