"""The HTTP edge in front of the GraphQL view, one concern per module.

A POST /graphql passes, in this order: `Authentication` (401, or 503 when the database
cannot say who the caller is), `RateLimiting` (429), `BodyLimit` (413, read no further than
the limit) and `QueryCaching` (answers from, and feeds, the query cache); then the view runs
GraphQL and nothing else. Every refusal is a `Refusal` (`refusal.py`), in the GraphQL shape
here and in the `{"error", "code"}` shape on the webhooks, which read their bodies with the
same `read_body`. WebSocket scopes pass through: their credentials come in `connection_init`.
"""

from __future__ import annotations

from app.web.middleware.authentication import Authentication
from app.web.middleware.body_limit import BodyLimit, read_body
from app.web.middleware.caching import QueryCaching
from app.web.middleware.rate_limiting import RateLimiting
from app.web.middleware.refusal import Refusal

__all__ = ["Authentication", "BodyLimit", "QueryCaching", "RateLimiting", "Refusal", "read_body"]
