"""Thin resolvers: authenticate, decode, call one service function, map to types."""
