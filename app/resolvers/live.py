"""What every subscription resolver does with its live stream."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TypeVar

from app.errors import DomainError, ErrorCode
from app.pubsub.broker import SlowConsumer
from app.schema.domain_errors import coded_error, graphql_error

T = TypeVar("T")


async def guarded(stream: AsyncGenerator[T, None]) -> AsyncGenerator[T, None]:
    """The stream's items; its failures reach the client as coded GraphQL errors."""
    try:
        async for item in stream:
            yield item
    except DomainError as error:
        raise graphql_error(error) from None
    except SlowConsumer as error:
        raise coded_error(ErrorCode.SLOW_CONSUMER, str(error)) from None
    finally:
        await stream.aclose()
