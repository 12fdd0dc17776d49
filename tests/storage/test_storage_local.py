from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from aceserve.storage import LocalFileStorage


def test_root_is_created_on_first_write(tmp_path: Path) -> None:
    root = tmp_path / "not" / "yet"
    storage = LocalFileStorage(root)
    assert not root.exists()
    assert not storage.exists("a.mp3")
    storage.put("outputs/a.mp3", b"x", "audio/mpeg")
    assert (root / "outputs" / "a.mp3").read_bytes() == b"x"


def test_write_leaves_no_temporary_files_and_is_world_readable(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    storage.put("outputs/a.mp3", b"x" * 10_000, "audio/mpeg")
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["a.mp3"]
    assert stat.S_IMODE((tmp_path / "outputs" / "a.mp3").stat().st_mode) == 0o644


def test_failed_write_keeps_the_old_file_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalFileStorage(tmp_path)
    storage.put("outputs/a.mp3", b"old", "audio/mpeg")

    def failing_replace(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        storage.put("outputs/a.mp3", b"new", "audio/mpeg")
    assert storage.get("outputs/a.mp3") == b"old"
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["a.mp3"]


def test_nothing_is_written_outside_the_root(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "root")
    with pytest.raises(ValueError):
        storage.put("../outside.mp3", b"x", "audio/mpeg")
    assert not (tmp_path / "outside.mp3").exists()
