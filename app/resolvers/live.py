"""What every subscription resolver does with its live stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TypeVar

from graphql import GraphQLError

from app.errors import DomainError
from app.pubsub.broker import SlowConsumer

T = TypeVar("T")


async def guarded(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """The stream's items; its failures reach the client as coded GraphQL errors."""
    try:
        async for item in stream:
            yield item
    except DomainError as error:
        raise GraphQLError(
            error.message, extensions={"code": error.code.value, "field": error.field}
        ) from None
    except SlowConsumer as error:
        raise GraphQLError(str(error), extensions={"code": "SLOW_CONSUMER"}) from None
    finally:
        await stream.aclose()
