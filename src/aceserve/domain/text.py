"""The one rule for client text, and how any stored string is made safe to send.

Text fields (prompts, lyrics) must be Unicode scalar values without control characters, except tab,
line feed and carriage return: no lone UTF-16 surrogates (JSON ``"\\ud800"``), no NUL, no C0 or C1
controls, no DEL. Such characters cannot be encoded as UTF-8 (surrogates), are refused by PostgreSQL
(NUL) or break tokenizers, so a task holding one could be accepted, then fail in the worker, or be
stored and never read back.

``TEXT_PATTERN`` says the same rule as a JSON-Schema (ECMA-262) pattern, for the OpenAPI document
(lone surrogates aside: see below);
``text_problem`` is the check the parser and the typed input models run.

Rows written below the API (older versions, a database edited by hand) may still hold such strings:
``storable_text`` and ``json_bytes`` make any of them renderable, so a GET or a webhook body never
fails on what a task holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

# Lone surrogates are left out of the patterns: Rust-based JSON Schema validators cannot compile a
# surrogate range and would ignore the whole pattern. No UTF-8 text holds one; only a JSON escape
# can, and ``text_problem`` refuses it.
_FORBIDDEN_RANGES: Final = r"\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F"
# White space a non-blank text may start with (str.isspace() among the allowed characters).
_SPACES: Final = r"\t\n\r \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
TEXT_PATTERN: Final = rf"^[^{_FORBIDDEN_RANGES}]*$"
"""Any text the rule allows (possibly empty)."""
NON_BLANK_TEXT_PATTERN: Final = rf"^[{_SPACES}]*[^{_FORBIDDEN_RANGES}{_SPACES}][^{_FORBIDDEN_RANGES}]*$"
"""Allowed text with at least one character that is not white space."""

_ALLOWED_CONTROLS: Final = frozenset("\t\n\r")


def is_forbidden(char: str) -> bool:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return True
    return (code < 0x20 or 0x7F <= code <= 0x9F) and char not in _ALLOWED_CONTROLS


def text_problem(value: str) -> str | None:
    """Why ``value`` breaks the text rule (naming the first offending character), or None."""
    for position, char in enumerate(value):
        if is_forbidden(char):
            code = ord(char)
            what = "a lone UTF-16 surrogate" if 0xD800 <= code <= 0xDFFF else "a control character"
            return (
                f"must be valid Unicode text without control characters other than tab and line breaks; "
                f"found {what} (U+{code:04X}) at position {position}"
            )
    return None


def check_text(value: str) -> str:
    """``value`` if it keeps the rule; else ``ValueError`` saying why (a pydantic validator)."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def encodable_text(value: str) -> str:
    """``value`` encodable as UTF-8: lone surrogates become U+FFFD (valid pairs are joined)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


def storable_text(value: str) -> str:
    """``value`` storable in any text column: encodable as UTF-8 and without NUL (PostgreSQL
    refuses it in text), which becomes U+FFFD too. Other characters are kept as they are."""
    value = encodable_text(value)
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


def _encodable(value: Any) -> Any:
    if isinstance(value, str):
        return encodable_text(value)
    if isinstance(value, Mapping):
        return {_encodable(key): _encodable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(item) for item in value]
    return value


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value``, whatever its strings hold (lone surrogates as U+FFFD)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(_encodable(value), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
