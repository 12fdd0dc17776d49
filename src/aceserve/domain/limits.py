"""Limits of the service that the API and the worker must agree on."""

from __future__ import annotations

MAX_OUTPUT_SECONDS = 600.0
"""Longest audio a task may produce (ACE-Step 1.5 generates up to 10 minutes)."""

SAMPLE_RATE = 48_000
CHANNELS = 2
