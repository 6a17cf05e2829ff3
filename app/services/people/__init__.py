"""People: the users and teams of a tenant, who incidents are assigned to and mention."""
