"""incidentgraph: incident management as a GraphQL API with live subscriptions."""

__version__ = "0.1.0"
