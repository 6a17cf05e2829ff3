"""What permessage-deflate would cost a fan-out (part of section (a)).

Servers do not offer permessage-deflate. This measures, with zlib in the benchmark's own
process, what it would cost for the fan-out's own push: per-connection compression with
context takeover (RFC 7692's default: each connection keeps a compressor, so every push is
compressed once per subscriber), the shared alternative (no context takeover: a push
compressed once serves every subscriber), the bytes each sends and the memory each
connection would hold. uvicorn's settings are used: 12-bit windows, memLevel 5.
"""

from __future__ import annotations

import json
import time
import tracemalloc
import zlib
from dataclasses import dataclass

_WBITS = -12  # raw deflate, as permessage-deflate frames carry it
_MEM_LEVEL = 5
_SAMPLES = 2_000


@dataclass(frozen=True, slots=True)
class CompressionCost:
    push_bytes: int
    compressed_bytes: int
    per_subscriber_us: float  # compressing a push with a connection's own compressor
    shared_us: float  # compressing it once with no context takeover
    held_bytes: int  # what one connection's compressor and decompressor hold


def push_sample() -> bytes:
    """A push as the fan-out benchmark's subscribers receive it."""
    return json.dumps(
        {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {
                    "incidentUpdated": {
                        "id": "SW5jaWRlbnQ6MDFKRTk0WjZCRVFNWFBIN0tQMkdWNjNaQ0Q=",
                        "status": "IN_PROGRESS",
                        "updatedAt": "2026-12-05T01:02:03.456789+00:00",
                        "version": 42,
                    }
                }
            },
        },
        separators=(",", ":"),
    ).encode()


def _compressor() -> zlib._Compress:
    return zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, _WBITS, _MEM_LEVEL)


def measure(push: bytes | None = None) -> CompressionCost:
    push = push_sample() if push is None else push
    compressors = [_compressor() for _ in range(_SAMPLES)]
    started = time.perf_counter()
    for compressor in compressors:
        compressed = compressor.compress(push) + compressor.flush(zlib.Z_SYNC_FLUSH)
    per_subscriber = (time.perf_counter() - started) / _SAMPLES
    started = time.perf_counter()
    for _ in range(_SAMPLES):
        compressor = _compressor()
        compressor.compress(push) + compressor.flush(zlib.Z_SYNC_FLUSH)
    shared = (time.perf_counter() - started) / _SAMPLES
    del compressors
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = [(_compressor(), zlib.decompressobj(_WBITS)) for _ in range(100)]
    for compressor, decompressor in held:
        decompressor.decompress(compressor.compress(push) + compressor.flush(zlib.Z_SYNC_FLUSH))
    held_bytes = (tracemalloc.get_traced_memory()[0] - before) // len(held)
    tracemalloc.stop()
    return CompressionCost(
        push_bytes=len(push),
        compressed_bytes=len(compressed) - 4,  # the sync flush's tail is not sent
        per_subscriber_us=per_subscriber * 1e6,
        shared_us=shared * 1e6,
        held_bytes=held_bytes,
    )


def render(cost: CompressionCost) -> str:
    saved = 1 - cost.compressed_bytes / cost.push_bytes
    return "\n".join(
        [
            "### permessage-deflate",
            "",
            "Servers do not offer it. What it would cost for this push, measured with zlib "
            "at uvicorn's settings (12-bit windows, memLevel 5):",
            "",
            "| | |",
            "|---|---|",
            f"| Push | {cost.push_bytes} bytes, {cost.compressed_bytes} compressed |",
            f"| CPU with context takeover (a compressor per connection: every push compressed "
            f"once per subscriber) | {cost.per_subscriber_us:.1f} µs per delivery |",
            f"| CPU without context takeover (compressed once, the bytes shared) | "
            f"{cost.shared_us:.1f} µs per push, whatever the number of subscribers |",
            f"| Memory one connection would hold (compressor and decompressor) | "
            f"{cost.held_bytes / 1024:.0f} KB |",
            "",
            f"Compression saves {saved:.0%} of this push's bytes. With context takeover it "
            "costs CPU on every delivery and more memory per connection than an idle "
            "subscription may take (20 KB); without it, one compressed payload could serve "
            "every subscriber, for the bytes saved only. So the extension is not offered: a "
            "client that asks for it (browsers do) gets plain frames, built once per push.",
            "",
        ]
    )
