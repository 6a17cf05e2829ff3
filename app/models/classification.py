from __future__ import annotations

from enum import StrEnum


class Classification(StrEnum):
    """How sensitive a piece of data is, lowest first (see services/access/classification.py)."""

    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    CONFIDENTIAL = "CONFIDENTIAL"
    RESTRICTED = "RESTRICTED"
