"""Who sends a request: an API token, or a signed-in user's OpenID Connect token."""

from __future__ import annotations

from app.services.access import tokens
from app.services.access.tokens import Principal, Unauthenticated
from app.services.people import oidc

__all__ = ["Unauthenticated", "authenticate"]


async def authenticate(authorization: str | None) -> Principal:
    """Resolve an `Authorization: Bearer <token>` value to its principal.

    A bearer JWT goes to the configured OpenID Connect issuers when there are any; anything
    else is looked up as an API token.
    """
    verifier = oidc.verifier()
    if verifier is not None and authorization:
        scheme, _, secret = authorization.strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() == "bearer" and oidc.looks_like_jwt(secret):
            return await verifier.authenticate(secret)
    return await tokens.authenticate(authorization)
