"""Non-GraphQL HTTP routes and the GraphQL view that authenticates."""
