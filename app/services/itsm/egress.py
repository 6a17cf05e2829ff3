"""Where ITSM connectors may connect: public addresses only, unless the installation allows
private networks (INCIDENTGRAPH_ALLOW_PRIVATE_NETWORKS, for tests and on-premises products).

A tenant names the base URL, so without this a tenant could make the server call its own
loopback services, the cloud metadata endpoint or anything on the private network. A base
URL is checked when it is configured (every address its host resolves to), and again at
each request: the transport resolves the host itself, checks every address, and connects to
the checked address (the Host header and the TLS server name stay the host's), so a DNS
answer that changed in between (rebinding) cannot reach a private address.

Resolution runs in the event loop's resolver thread, never blocking the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT_SECONDS = 5.0


class Refused(Exception):
    """The target is not one the connectors may call."""


def is_public(address: Address) -> bool:
    """Globally routable unicast, including the IPv4 address an IPv6 one carries."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address | None] = [address.ipv4_mapped, address.sixtofour]
        if address.teredo:
            embedded.extend(address.teredo)
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return all(is_public(inner) for inner in embedded if inner is not None)
    return True


async def resolve(
    host: str, port: int, *, timeout: float = RESOLVE_TIMEOUT_SECONDS
) -> list[Address]:
    """Every address `host` resolves to, in the resolver's order; Refused if none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        found = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except (OSError, UnicodeError, TimeoutError):
        raise Refused(f"{host} does not resolve") from None
    addresses: list[Address] = []
    for *_, sockaddr in found:
        # Scoped IPv6 addresses come as "fe80::1%eth0".
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"{host} does not resolve")
    return addresses


async def allowed_addresses(host: str, port: int, *, allow_private: bool) -> list[Address]:
    """The addresses to connect to; Refused if any address of the host is not public (an
    attacker's name may answer with a public and a private one)."""
    addresses = await resolve(host, port)
    if not allow_private and not all(is_public(a) for a in addresses):
        raise Refused(f"{host} resolves to an address that is not public")
    return addresses


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refused unless every address the URL's host resolves to may be called."""
    if allow_private:
        return
    parts = urlsplit(url)
    if not parts.hostname:
        raise Refused("no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("bad port") from None
    await allowed_addresses(parts.hostname, port, allow_private=False)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An HTTP transport that connects only to addresses `allowed_addresses` let through,
    and to exactly the addresses it checked (in the resolver's order, the next one when a
    connection fails)."""

    def __init__(
        self, *, allow_private: bool, inner: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._allow_private = allow_private
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._allow_private:
            return await self._inner.handle_async_request(request)
        url = request.url
        try:
            addresses = await allowed_addresses(
                url.host, url.port or (443 if url.scheme == "https" else 80), allow_private=False
            )
        except Refused as exc:
            log.warning("ITSM call to %s not made: %s", url.host, exc)
            raise httpx.ConnectError(str(exc), request=request) from None
        if url.scheme == "https":
            # The certificate is checked against the host's name, not the address.
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        # The Host header was set from the URL when the request was built: it stays the host.
        failed: httpx.ConnectError | None = None
        for address in addresses:
            request.url = url.copy_with(host=str(address))
            try:
                return await self._inner.handle_async_request(request)
            except httpx.ConnectError as exc:
                failed = exc
        assert failed is not None
        raise failed

    async def aclose(self) -> None:
        await self._inner.aclose()
