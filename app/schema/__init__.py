"""Strawberry types, inputs and payloads per domain, with the execution extensions;
the root types that assemble them live in `app.resolvers.root`."""
