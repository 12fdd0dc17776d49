"""Warnings of the libraries under the engine that tell an aceserve user nothing."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_known_warnings() -> Iterator[None]:
    """Hide torch's weight_norm deprecation, raised by diffusers' VAE on every build: it is theirs
    to fix and tells an aceserve user nothing."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*weight_norm.*", category=FutureWarning)
        yield
