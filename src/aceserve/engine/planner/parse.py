"""A plan's text back to values: the chain of thought's metadata, the lyrics after it, the codes.

The chain of thought is read as ACE-Step 1.5 reads it: ``key: value`` lines between ``<think>`` and
``</think>``, a value continued on indented lines joined into one line. Every value is then checked
against the metadata sets (``domain.music``); a plan that fails a check raises ``PlanError`` (the
engine then runs that task without its plan and says so), so a wrong plan is never used silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from aceserve.domain.music import (
    KEY_SCALES,
    MAX_BPM,
    MAX_PLAN_SECONDS,
    MIN_BPM,
    MIN_PLAN_SECONDS,
    TIME_SIGNATURES,
    VOCAL_LANGUAGES,
)
from aceserve.engine.planner.vocab import THINK_END, THINK_START

_THOUGHT = re.compile(re.escape(THINK_START) + r"(.*?)" + re.escape(THINK_END), re.DOTALL)
_LYRIC_HEADER = re.compile(r"^#\s*Lyrics?\s*\n", re.IGNORECASE)


class PlanError(ValueError):
    """The LM's output is not a usable plan."""


@dataclass(frozen=True)
class Metadata:
    """What a chain of thought says; None where it says nothing."""

    bpm: int | None = None
    caption: str | None = None
    duration: int | None = None
    key_scale: str | None = None
    language: str | None = None
    time_signature: int | None = None

    def fields(self) -> dict[str, object]:
        """Under the chain of thought's own names (``keyscale``, ``timesignature``)."""
        named = {
            "bpm": self.bpm,
            "caption": self.caption,
            "duration": self.duration,
            "keyscale": self.key_scale,
            "language": self.language,
            "timesignature": self.time_signature,
        }
        return {key: value for key, value in named.items() if value is not None}


@dataclass(frozen=True)
class Plan:
    """A task's plan: metadata, what the LM wrote (caption, lyrics) and the 5 Hz audio codes."""

    metadata: Metadata = field(default_factory=Metadata)
    lyrics: str | None = None  # written from a description
    codes: tuple[int, ...] = ()


def thought_fields(text: str) -> dict[str, str]:
    """The raw ``key: value`` pairs of the chain of thought in ``text`` (lowercased keys)."""
    match = _THOUGHT.search(text)
    if match is None:
        raise PlanError(f"the LM's output has no {THINK_START}…{THINK_END} block")
    fields: dict[str, list[str]] = {}
    key: str | None = None
    for line in match.group(1).strip().split("\n"):
        if line and not line[0].isspace() and ":" in line:
            name, value = line.split(":", 1)
            key = name.strip().lower()
            fields[key] = [value] if value.strip() else []
        elif line[:1].isspace() and key is not None:
            fields[key].append(line)
    return {name: " ".join(part.strip() for part in parts if part.strip()) for name, parts in fields.items()}


def _number(fields: dict[str, str], name: str, low: int, high: int) -> int | None:
    raw = fields.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise PlanError(f"`{name}` must be a whole number from {low} to {high}; the LM wrote {raw!r}")
    return int(raw)


def _member(fields: dict[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = fields.get(name)
    if raw is None:
        return None
    if raw not in allowed:
        raise PlanError(f"`{name}` {raw!r} is not one ACE-Step 1.5 knows")
    return raw


def parse_metadata(text: str) -> Metadata:
    """The checked metadata of the chain of thought in ``text``."""
    fields = thought_fields(text)
    signature = _member(fields, "timesignature", tuple(str(value) for value in TIME_SIGNATURES))
    caption = fields.get("caption")
    if caption is not None and not caption.strip():
        raise PlanError("the LM wrote an empty caption")
    return Metadata(
        bpm=_number(fields, "bpm", MIN_BPM, MAX_BPM),
        caption=caption,
        duration=_number(fields, "duration", MIN_PLAN_SECONDS, MAX_PLAN_SECONDS),
        key_scale=_member(fields, "keyscale", KEY_SCALES),
        language=_member(fields, "language", VOCAL_LANGUAGES),
        time_signature=int(signature) if signature is not None else None,
    )


def lyrics_after_thought(text: str, end_token: str) -> str:
    """What follows ``</think>``: the lyrics, without a ``# Lyric`` heading or the end token."""
    _, found, after = text.partition(THINK_END)
    if not found:
        raise PlanError(f"the LM's output has no {THINK_END}")
    after = after.strip()
    if after.endswith(end_token):
        after = after[: -len(end_token)]
    lyrics = _LYRIC_HEADER.sub("", after.strip()).strip()
    if not lyrics:
        raise PlanError("the LM wrote no lyrics")
    return lyrics
