"""Short refs recipients quote back: REF-YYYYMMDD-XXXX.

The date is the UTC day the message was recorded; XXXX is four characters of Crockford's
base32 (no I, L, O or U, so nothing reads as another character when quoted over the
phone): 32**4 = 1,048,576 refs a day. At 10,000 messages a day a new ref meets one already
given that day with a chance of at most 10,000 / 1,048,576 (about 1%), and the day's
expected collisions are about 10,000**2 / (2 * 1,048,576), some 48: each is caught by the
unique index and drawn again. The seed's three characters (32,768 a day) would collide
for one message in four by the end of such a day.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
LENGTH = 4
PER_DAY = len(ALPHABET) ** LENGTH
_FORMAT = re.compile(r"^REF-(\d{8})-([0-9A-HJKMNP-TV-Z]{4})$")


def new_ref(at: datetime) -> str:
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"REF-{at:%Y%m%d}-{suffix}"


def normalise(value: str) -> str | None:
    """A ref as given (any case, spaces around), as stored; None when it is not one."""
    text = value.strip().upper()
    # Read back as people type them: O for 0, I or L for 1.
    if text.startswith("REF-") and len(text) == 17:
        head, suffix = text[:13], text[13:]
        text = head + suffix.translate(str.maketrans("OIL", "011"))
    match = _FORMAT.match(text)
    if match is None:
        return None
    try:
        datetime.strptime(match.group(1), "%Y%m%d")
    except ValueError:
        return None
    return text


def collision_chance(given_today: int) -> float:
    """The chance that the next ref drawn today is one already given."""
    chance: float = min(given_today / PER_DAY, 1.0)
    return chance
