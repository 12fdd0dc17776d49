from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta, timezone
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


def _age(path: Path, hours: float) -> None:
    moment = (datetime.now(UTC) - timedelta(hours=hours)).timestamp()
    os.utime(path, (moment, moment), follow_symlinks=False)


def test_list_keys_compares_modification_times(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    for key in ("outputs/old.mp3", "outputs/older.mp3", "outputs/new.mp3"):
        storage.put(key, b"x", "audio/mpeg")
    _age(tmp_path / "outputs" / "old.mp3", 2)
    _age(tmp_path / "outputs" / "older.mp3", 5)
    cutoff = datetime.now(UTC) - timedelta(hours=1)
    assert sorted(storage.list_keys(older_than=cutoff)) == ["outputs/old.mp3", "outputs/older.mp3"]
    assert list(storage.list_keys(older_than=cutoff - timedelta(hours=3))) == ["outputs/older.mp3"]
    # any time zone works: the same instant in UTC+5 gives the same answer
    plus_five = cutoff.astimezone(timezone(timedelta(hours=5)))
    assert sorted(storage.list_keys(older_than=plus_five)) == ["outputs/old.mp3", "outputs/older.mp3"]


def test_list_keys_before_the_first_write_is_empty(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "not" / "yet")
    assert list(storage.list_keys(older_than=datetime.now(UTC) + timedelta(days=1))) == []


def test_list_keys_skips_temporary_files_and_names_that_are_not_keys(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path)
    storage.put("outputs/a.mp3", b"x", "audio/mpeg")
    outputs = tmp_path / "outputs"
    (outputs / ".a.mp3.k2j3h4.tmp").write_bytes(b"half")  # what put leaves behind when killed mid-write
    (outputs / "with space.mp3").write_bytes(b"foreign")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "b.mp3").write_bytes(b"hidden directory")
    (tmp_path / "bad dir").mkdir()
    (tmp_path / "bad dir" / "c.mp3").write_bytes(b"under a name that is no key")
    (tmp_path / "empty").mkdir()
    for path in tmp_path.rglob("*"):
        _age(path, 5)
    assert list(storage.list_keys(older_than=datetime.now(UTC))) == ["outputs/a.mp3"]


def test_list_keys_never_follows_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.mp3").write_bytes(b"not ours")
    storage = LocalFileStorage(tmp_path / "root")
    storage.put("outputs/a.mp3", b"x", "audio/mpeg")
    (tmp_path / "root" / "linked-dir").symlink_to(outside, target_is_directory=True)
    (tmp_path / "root" / "outputs" / "linked.mp3").symlink_to(outside / "precious.mp3")
    (tmp_path / "root" / "outputs" / "loop").symlink_to(tmp_path / "root", target_is_directory=True)
    for path in tmp_path.rglob("*"):
        _age(path, 5)
    assert list(storage.list_keys(older_than=datetime.now(UTC))) == ["outputs/a.mp3"]


def test_list_keys_through_a_symlinked_root(tmp_path: Path) -> None:
    real = tmp_path / "real"
    LocalFileStorage(real).put("outputs/a.mp3", b"x", "audio/mpeg")
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    storage = LocalFileStorage(tmp_path / "link")
    assert list(storage.list_keys(older_than=datetime.now(UTC) + timedelta(days=1))) == ["outputs/a.mp3"]
