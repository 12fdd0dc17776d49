"""Musical metadata ACE-Step 1.5 is conditioned on: the one list of each value set.

The API checks task inputs against these (``domain/inputs_models.py``), the engine's planner
constrains what its language model may write to them (``engine/planner/constraint.py``), and the
DiT prompt writes them as ACE-Step 1.5 does. The sets are ACE-Step 1.5's own: vocal languages, keys
(a note A–G, an optional sharp or flat in ASCII or Unicode, major or minor), time signatures given
as beats per bar (2, 3, 4 or 6), tempo 30–300 bpm and durations 10–600 s.
"""

from __future__ import annotations

import itertools
from typing import Final, Literal

MIN_BPM: Final = 30
MAX_BPM: Final = 300
MIN_PLAN_SECONDS: Final = 10
MAX_PLAN_SECONDS: Final = 600

TimeSignature = Literal[2, 3, 4, 6]
TIME_SIGNATURES: Final[tuple[int, ...]] = (2, 3, 4, 6)

VOCAL_LANGUAGES: Final[tuple[str, ...]] = (
    "ar", "az", "bg", "bn", "ca", "cs", "da", "de", "el", "en",
    "es", "fa", "fi", "fr", "he", "hi", "hr", "ht", "hu", "id",
    "is", "it", "ja", "ko", "la", "lt", "ms", "ne", "nl", "no",
    "pa", "pl", "pt", "ro", "ru", "sa", "sk", "sr", "sv", "sw",
    "ta", "te", "th", "tl", "tr", "uk", "ur", "vi", "yue", "zh",
    "unknown",
)  # fmt: skip
"""ISO 639 codes ACE-Step 1.5 sings in, and ``unknown`` (what it is conditioned on when none is given)."""
UNKNOWN_LANGUAGE: Final = "unknown"

KEY_NOTES: Final = ("A", "B", "C", "D", "E", "F", "G")
KEY_ACCIDENTALS: Final = ("", "#", "b", "♯", "♭")
KEY_MODES: Final = ("major", "minor")
KEY_SCALES: Final[tuple[str, ...]] = tuple(
    f"{note}{accidental} {mode}" for note, accidental, mode in itertools.product(KEY_NOTES, KEY_ACCIDENTALS, KEY_MODES)
)
"""The 70 keys ACE-Step 1.5 knows, e.g. ``C major``, ``F# minor``, ``B♭ major``."""

KEY_SCALE_PATTERN: Final = "^[A-G](?:#|b|♯|♭)? (?:major|minor)$"
KEY_SCALE_RULE: Final = 'a key: a note A–G, optionally #, b, ♯ or ♭, a space, then major or minor (e.g. "F# minor")'
VOCAL_LANGUAGE_PATTERN: Final = f"^(?:{'|'.join(VOCAL_LANGUAGES)})$"
VOCAL_LANGUAGE_RULE: Final = "one of ACE-Step 1.5's vocal languages: " + ", ".join(VOCAL_LANGUAGES)
