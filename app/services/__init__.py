"""The domain: plain async functions and small classes, no GraphQL imports."""
