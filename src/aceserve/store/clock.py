"""Time and identifiers, in one place so every module agrees on them."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    """Lowercase UUIDv4, the form PiAPI uses for task ids."""
    return str(uuid.uuid4())


def opaque_id(nbytes: int = 18) -> str:
    """URL-safe random id for file names and webhook message ids."""
    return secrets.token_urlsafe(nbytes)
