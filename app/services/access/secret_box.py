"""Secrets kept encrypted at rest (ITSM credentials and webhook secrets).

Fernet from `cryptography` (AES-128-CBC with an HMAC-SHA256, so a changed value is detected,
not decrypted into garbage), behind MultiFernet for rotation: the first key of
INCIDENTGRAPH_SECRET_KEY encrypts, every key listed decrypts, and `incidentgraph secrets
rotate` re-encrypts every stored secret with the first key. A stored secret reads
`fernet:<token>`.

Where the key comes from:
- INCIDENTGRAPH_SECRET_KEY, when set (comma-separated keys);
- else, on SQLite, `secret.key` next to the database file, made once with mode 0600: the
  embedded default works with no setting, and a copy of the database alone opens nothing;
- else (PostgreSQL) there is none: the server refuses to start. Several hosts may share a
  PostgreSQL database, and a key file per host would make each unable to read the others'.
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.config import ConfigError, Settings

PREFIX = "fernet:"
KEY_FILE_NAME = "secret.key"


class Unreadable(Exception):
    """A stored secret that none of the configured keys opens."""

    def __init__(self) -> None:
        super().__init__(
            "a stored secret cannot be decrypted with INCIDENTGRAPH_SECRET_KEY: if the key "
            "was changed, list the old key after the new one (comma-separated) and run "
            "`incidentgraph secrets rotate`"
        )


class SecretBox:
    """Seals and opens secrets with the configured keys."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("at least one key")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "SecretBox(...)"

    def seal(self, plaintext: str) -> str:
        return PREFIX + self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            raise Unreadable()
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise Unreadable() from None

    def reseal(self, stored: str) -> str:
        """The same secret sealed with the first key (a value in the clear is sealed)."""
        if not is_sealed(stored):
            return self.seal(stored)
        try:
            token = self._fernet.rotate(stored[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, UnicodeError):
            raise Unreadable() from None
        return PREFIX + token.decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_file(settings: Settings) -> Path | None:
    """Where the embedded default keeps its key: next to the SQLite file (None for an
    in-memory database, or PostgreSQL)."""
    if not settings.is_sqlite:
        return None
    path = settings.database_url.split("://", 1)[1]
    if not path or path == ":memory:":
        return None
    return Path(path).expanduser().parent / KEY_FILE_NAME


def load(settings: Settings) -> SecretBox:
    """The box for these settings, made (and the key file read or created) once per
    process; ConfigError when there is no key to be had."""
    path = key_file(settings)
    if not settings.secret_keys and not settings.is_sqlite:
        raise ConfigError(
            "INCIDENTGRAPH_SECRET_KEY must be set with PostgreSQL: it encrypts the stored ITSM "
            "secrets, and every server sharing the database needs the same key "
            "(make one with `incidentgraph secrets new-key`)"
        )
    return _box(settings.secret_keys, str(path) if path else None)


@functools.cache
def _box(keys: tuple[str, ...], path: str | None) -> SecretBox:
    if keys:
        return SecretBox([k.encode("ascii") for k in keys])
    if path is None:  # an in-memory database lives as long as this key
        return SecretBox([Fernet.generate_key()])
    try:
        return SecretBox([_read_or_create(Path(path))])
    except OSError as exc:
        raise ConfigError(
            f"cannot read or create the key file {path} ({exc.strerror}): make it readable, "
            "or set INCIDENTGRAPH_SECRET_KEY"
        ) from None


def _read_or_create(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under another name, then linked: a second process starting at the
        # same moment reads one complete key, the same as this one's.
        draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
        finally:
            draft.unlink(missing_ok=True)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise ConfigError(f"{path} does not hold a Fernet key") from None
    return key
