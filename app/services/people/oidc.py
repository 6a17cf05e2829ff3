"""OpenID Connect sign-in: bearer JWTs from configured issuers, verified with their JWKS.

The verification is joserfc's (signature, algorithm, claims); this module decides which
issuer a token claims to come from, keeps each issuer's keys (fetched from its JWKS URL,
cached, fetched again when a token names a key it does not know: that is how a provider
rotates), maps the token's role claim to a role, and finds or creates the user it names.

Only RS256 and ES256 are accepted: `alg: none` and HMAC tokens (whose "secret" would be
the public key anyone can fetch) are refused before any key is looked at.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.config import OidcIssuer
from app.core.clock import utcnow
from app.errors import ValidationFailed
from app.models import Role, Tenant, User, UserIdentity
from app.services.access import audit
from app.services.access.classification import ROLE_CLEARANCE
from app.services.access.permissions import GRANTS
from app.services.access.tokens import Principal, Unauthenticated
from app.services.people import users

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256", "ES256")
# Real ID and access tokens are a few KB; anything much longer is refused unparsed.
MAX_TOKEN_LENGTH = 16_384
LEEWAY_SECONDS = 60
KEYS_TTL_SECONDS = 600.0
# A token naming an unknown key fetches the JWKS again, at most this often per issuer (so
# tokens with made-up key ids cannot make the server hammer the provider).
REFETCH_SECONDS = 5.0
JWKS_TIMEOUT_SECONDS = 5.0
_CACHE_SECONDS = 5.0
_CACHE_MAX = 10_000
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def looks_like_jwt(secret: str) -> bool:
    """A compact JWS (three base64url parts); API tokens are never that."""
    return secret.startswith("eyJ") and secret.count(".") == 2


@dataclass(slots=True)
class _Keys:
    keys: KeySet | None = None
    fetched_at: float = float("-inf")
    lock: asyncio.Lock | None = None


class OidcVerifier:
    """Verifies the configured issuers' tokens and signs their users in."""

    def __init__(self, issuers: Sequence[OidcIssuer]) -> None:
        self.issuers = {i.issuer: i for i in issuers}
        self._keys = {i.issuer: _Keys() for i in issuers}
        self._cache: dict[str, tuple[float, Principal]] = {}

    async def authenticate(self, token: str) -> Principal:
        now = time.monotonic()
        digest = hashlib.sha256(token.encode()).hexdigest()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        issuer, claims = await self.verify(token)
        role = role_of(issuer, claims)
        user = await sign_in(issuer, claims)
        principal = Principal(
            token_id=f"oidc:{user.id}",
            tenant_id=issuer.tenant,
            role=role,
            name=user.handle,
            clearance=ROLE_CLEARANCE[role],
            user_id=str(user.id),
        )
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        # Never beyond the token's own expiry.
        until = min(now + _CACHE_SECONDS, now + float(claims["exp"]) - time.time())
        self._cache[digest] = (until, principal)
        return principal

    async def verify(self, token: str) -> tuple[OidcIssuer, dict[str, Any]]:
        """The issuer and the verified claims of `token`; Unauthenticated when anything is off."""
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated(f"token is longer than {MAX_TOKEN_LENGTH} characters")
        if not _JWT.match(token):
            raise Unauthenticated("malformed token: not a compact JWT")
        try:
            unverified = jws.extract_compact(token.encode("ascii"))
            header = unverified.headers()
            claimed = json.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError):
            raise Unauthenticated("malformed token: not a compact JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"token algorithm {alg!r} is not accepted (RS256 or ES256)")
        iss = claimed.get("iss") if isinstance(claimed, dict) else None
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise Unauthenticated("token is not from a configured issuer")
        kid = header.get("kid")
        keys = await self._key_set(issuer, kid if isinstance(kid, str) else None)
        try:
            verified = jwt.decode(token, keys, algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": issuer.issuer},
                aud={"essential": True, "value": issuer.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(verified.claims)
        except JoseError as exc:
            raise Unauthenticated(f"token refused: {_reason(exc)}") from None
        return issuer, dict(verified.claims)

    async def _key_set(self, issuer: OidcIssuer, kid: str | None) -> KeySet:
        state = self._keys[issuer.issuer]
        if state.lock is None:
            state.lock = asyncio.Lock()
        async with state.lock:
            age = time.monotonic() - state.fetched_at
            unknown = kid is not None and state.keys is not None and not _has(state.keys, kid)
            if state.keys is None or age > KEYS_TTL_SECONDS or (unknown and age > REFETCH_SECONDS):
                try:
                    state.keys = await _fetch(issuer.jwks_url)
                except Unauthenticated:
                    if state.keys is None:
                        raise
                    # The provider is down: the keys known a moment ago still verify.
                    log.warning("could not refresh the JWKS of %s", issuer.issuer)
                state.fetched_at = time.monotonic()
            assert state.keys is not None
            return state.keys


def _has(keys: KeySet, kid: str) -> bool:
    return any(k.kid == kid for k in keys.keys)


async def _fetch(url: str) -> KeySet:
    try:
        async with httpx.AsyncClient(timeout=JWKS_TIMEOUT_SECONDS) as client:
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        keys = [
            k
            for k in document.get("keys", [])
            if isinstance(k, dict) and k.get("kty") in ("RSA", "EC") and "d" not in k
        ]
        return KeySet.import_key_set({"keys": keys})
    except (httpx.HTTPError, ValueError, AttributeError, JoseError) as exc:
        log.warning("could not fetch the JWKS at %s: %s", url, exc)
        raise Unauthenticated("the token's issuer could not be reached to verify it") from None


def _reason(exc: JoseError) -> str:
    text = getattr(exc, "description", None) or str(exc)
    return text.rstrip(".")


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def role_of(issuer: OidcIssuer, claims: Mapping[str, Any]) -> Role:
    """The highest role the token's role claim maps to, or the issuer's default."""
    value = _claim(claims, issuer.role_claim)
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    mapping = dict(issuer.roles)
    roles = [Role(mapping[v]) for v in values if isinstance(v, str) and v in mapping]
    if roles:
        return max(roles, key=lambda role: len(GRANTS[role]))
    if issuer.default_role is not None:
        return Role(issuer.default_role)
    raise Unauthenticated(f"no role for this sign-in: its {issuer.role_claim!r} maps to none")


# --- just-in-time users ---------------------------------------------------------------------

_HANDLE_CHARS = re.compile(r"[^a-z0-9._-]+")


def handle_from(claims: Mapping[str, Any]) -> str:
    """A handle from preferred_username, else the e-mail's local part, else the subject."""
    for source in (claims.get("preferred_username"), str(claims.get("email") or "")):
        if isinstance(source, str) and source:
            base = _HANDLE_CHARS.sub("-", source.split("@")[0].lower()).strip("-._")[:56]
            if base:
                return base
    return "user-" + hashlib.sha256(str(claims["sub"]).encode()).hexdigest()[:12]


async def sign_in(issuer: OidcIssuer, claims: Mapping[str, Any]) -> User:
    """The user the claims name: linked before, or matched by verified e-mail, or created."""
    subject = str(claims["sub"])[:255]
    if not await Tenant.exists(id=issuer.tenant):
        log.error(
            "OIDC issuer %s signs users into tenant %r, which does not exist",
            issuer.issuer,
            issuer.tenant,
        )
        raise Unauthenticated("this sign-in's tenant does not exist")
    for _ in range(3):
        identity = await UserIdentity.get_or_none(
            tenant_id=issuer.tenant, issuer=issuer.issuer, subject=subject
        ).select_related("user")
        if identity is not None:
            user = identity.user
            if not user.active:
                raise Unauthenticated("this user is deactivated")
            return user
        try:
            return await _link_or_create(issuer, subject, claims)
        except IntegrityError:
            continue  # another request signed the same person in meanwhile
    raise Unauthenticated("could not sign this user in; try again")


async def _link_or_create(issuer: OidcIssuer, subject: str, claims: Mapping[str, Any]) -> User:
    email = claims.get("email")
    verified = claims.get("email_verified", True) is not False
    email = email.strip().lower() if isinstance(email, str) and "@" in email else None
    now = utcnow()
    async with in_transaction():
        user = None
        if email is not None and verified:
            user = await User.get_or_none(tenant_id=issuer.tenant, email=email)
            if user is not None and not user.active:
                raise Unauthenticated("this user is deactivated")
        if user is None:
            user = await _create(issuer, subject, claims, email)
        await UserIdentity.create(
            tenant_id=issuer.tenant,
            issuer=issuer.issuer,
            subject=subject,
            user_id=user.id,
            created_at=now,
        )
        await audit.record(
            tenant_id=issuer.tenant,
            action="user.sign_in_linked",
            target=str(user.id),
            changes={"issuer": issuer.issuer, "subject": subject},
        )
    return user


async def _create(
    issuer: OidcIssuer, subject: str, claims: Mapping[str, Any], email: str | None
) -> User:
    base = handle_from(claims)
    handle = base
    for n in range(2, 100):
        if not await User.exists(tenant_id=issuer.tenant, handle=handle):
            break
        handle = f"{base}-{n}"
    host = urlsplit(issuer.issuer).hostname or "sso"
    # A sign-in without an e-mail gets an address that can never receive mail (RFC 2606).
    address = email or f"{handle}.{uuid.uuid4().hex[:8]}@{host}.invalid"
    name = claims.get("name")
    name = " ".join(name.split())[:255] if isinstance(name, str) and name.strip() else handle
    zone = claims.get("zoneinfo")
    zone = zone if isinstance(zone, str) else "UTC"
    now = utcnow()
    user = await User.create(
        id=uuid.uuid4(),
        tenant_id=issuer.tenant,
        handle=handle,
        name=name,
        email=address,
        time_zone=_zone(zone),
        created_at=now,
        updated_at=now,
    )
    await audit.record(
        tenant_id=issuer.tenant,
        action="user.create",
        target=str(user.id),
        changes={"handle": handle, "email": address, "via": issuer.issuer},
    )
    return user


def _zone(name: str) -> str:
    try:
        return users.time_zone_of(name)
    except ValidationFailed:
        return "UTC"


_verifier: OidcVerifier | None = None


def configure(issuers: Sequence[OidcIssuer]) -> None:
    """Accept these issuers' tokens from now on (none: API tokens only)."""
    global _verifier
    _verifier = OidcVerifier(issuers) if issuers else None


def verifier() -> OidcVerifier | None:
    return _verifier
