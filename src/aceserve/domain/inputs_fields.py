"""Readers for single request values: each checks one JSON value and raises ``InvalidInput``.

Every reader takes the value and its full field path (``input.duration``) and either returns the
value, narrowed to its Python type and unchanged otherwise (an int stays an int), or raises
``InvalidInput`` naming the path and the rule and showing the bad value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from urllib.parse import urlsplit

from aceserve.domain.errors import InvalidInput
from aceserve.domain.text import is_forbidden

MAX_URL_CHARS = 2048
_SHOW_CHARS = 40

Number = int | float


def show(value: object) -> str:
    """A short, JSON-looking rendering of a client's value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, str) and len(value) > _SHOW_CHARS:
        return f'{json.dumps(value[:_SHOW_CHARS], ensure_ascii=False)[:-1]}…" ({len(value)} characters)'
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 2 * _SHOW_CHARS else f"{text[: 2 * _SHOW_CHARS]}…"


def any_case_pattern(values: Iterable[str]) -> str:
    """A JSON Schema pattern matching exactly ``values`` in any letter case (ECMA regexes lack ``(?i)``)."""
    blind = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in value) for value in values)
    return f"(?:{'|'.join(blind)})"


def format_number(value: Number) -> str:
    """``30`` and ``30.0`` both read ``30``; other floats keep their shortest exact form."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_value(a: object, b: object) -> bool:
    """Equal as JSON values: ``30 == 30.0``, but ``true != 1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def read_str(value: object, path: str, *, max_chars: int, non_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidInput(path, f"must be a string; got {show(value)}")
    if non_empty and not value.strip():
        raise InvalidInput(path, f"must not be empty; got {show(value)}")
    if len(value) > max_chars:
        raise InvalidInput(path, f"must be at most {max_chars} characters; got {len(value)}")
    return value


def read_number(
    value: object,
    path: str,
    *,
    minimum: Number,
    maximum: Number,
    unit: str = "",
) -> Number:
    """A finite JSON number (not a bool, not a numeric string) in ``[minimum, maximum]``."""
    if not is_number(value):
        raise InvalidInput(path, f"must be a number; got {show(value)}")
    assert isinstance(value, int | float)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(path, f"must be a finite number; got {show(value)}")
    if not minimum <= value <= maximum:
        suffix = f" {unit}" if unit else ""
        raise InvalidInput(
            path,
            f"must be between {format_number(minimum)} and {format_number(maximum)}{suffix}; "
            f"got {format_number(value)}",
        )
    return value


def read_int(value: object, path: str, *, minimum: int, maximum: int) -> int:
    """A JSON integer in ``[minimum, maximum]``: ``3``, or ``3.0`` as JSON Schema counts it (returned as
    ``3``); not ``3.5``, ``"3"`` or ``true``."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(path, f"must be an integer; got {show(value)}")
    if not minimum <= value <= maximum:
        raise InvalidInput(path, f"must be between {minimum} and {maximum}; got {value}")
    return value


def read_choice(value: object, path: str, choices: Collection[str], *, fold_case: bool = False) -> str:
    """One of ``choices``; with ``fold_case`` any letter case is accepted and lowercased."""
    candidate = value.lower() if fold_case and isinstance(value, str) else value
    if not isinstance(candidate, str) or candidate not in choices:
        listed = ", ".join(json.dumps(choice) for choice in choices)
        raise InvalidInput(path, f"must be one of {listed}; got {show(value)}")
    return candidate


def read_member(value: object, path: str, members: Collection[object]) -> object:
    """One of the JSON integers ``members`` (``4``, or ``4.0`` as JSON Schema counts it, returned as ``4``)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or value not in members:
        listed = ", ".join(json.dumps(member) for member in members)
        raise InvalidInput(path, f"must be one of {listed}; got {show(value)}")
    return value


def read_object(value: object, path: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidInput(path, f"must be an object; got {show(value)}")
    return value


def read_http_url(value: str, path: str, *, what: str = "must be an absolute http(s) URL") -> str:
    """An absolute http or https URL with a host, at most ``MAX_URL_CHARS``; returned as given."""
    if len(value) > MAX_URL_CHARS:
        raise InvalidInput(path, f"must be a URL of at most {MAX_URL_CHARS} characters; got {len(value)}")
    if any(ch.isspace() or is_forbidden(ch) for ch in value):
        raise InvalidInput(path, f"{what} without spaces or control characters; got {show(value)}")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise InvalidInput(path, f"{what}; got {show(value)}")
    return value
