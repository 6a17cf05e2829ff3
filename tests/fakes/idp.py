"""An OpenID Connect provider's signing side: real keys, a JWKS endpoint, signed tokens.

`jwks_path` serves the public half of `published` keys; `sign(claims, key=...)` makes a
compact JWT with any of the provider's keys (or a stranger's). `rotate()` publishes a new
key under a new kid, as providers do.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from tests.fakes.base import Call, FakeServer, Response

JWKS_PATH = "/.well-known/jwks.json"

Key = RSAKey | ECKey


class FakeIdP(FakeServer):
    name = "fake-idp"

    def __init__(self, *, audience: str = "incidentgraph") -> None:
        super().__init__()
        self.audience = audience
        self.rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
        self.ec = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
        self.published: list[Key] = [self.rsa, self.ec]

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def jwks_url(self) -> str:
        return self.url + JWKS_PATH

    def rotate(self) -> RSAKey:
        """Publish a new RSA key (new kid) beside the old ones; returns it."""
        key = RSAKey.generate_key(2048, parameters={"kid": f"rsa-{uuid.uuid4().hex[:6]}"})
        self.published.append(key)
        return key

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"sub-{uuid.uuid4().hex[:12]}",
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self, claims: dict[str, Any], *, key: Key | None = None, alg: str | None = None
    ) -> str:
        key = key or self.rsa
        alg = alg or ("ES256" if isinstance(key, ECKey) else "RS256")
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key)

    def authorized(self, authorization: str | None) -> bool:
        return True  # a JWKS is public

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"error": message})

    def route(self, call: Call) -> Response:
        if call.method == "GET" and call.path == JWKS_PATH:
            return Response(200, {"keys": [k.as_dict(private=False) for k in self.published]})
        return Response(404, {"error": "not_found"})
