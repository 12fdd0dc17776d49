"""One behavioural suite, run on every FileStorage implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aceserve.storage import FileMissing, FileStorage, LocalFileStorage

AUDIO = bytes(range(256)) * 40
# LocalFileStorage can be aged with os.utime, S3 objects cannot (the server stamps LastModified), so
# the shared cases list with a cutoff in the future (everything) or the past (nothing).
FUTURE = datetime.now(UTC) + timedelta(days=1)
PAST = datetime.now(UTC) - timedelta(days=1)


def test_is_a_file_storage(storage: FileStorage) -> None:
    assert isinstance(storage, FileStorage)


def test_put_then_get_returns_the_bytes(storage: FileStorage) -> None:
    storage.put("outputs/ab12cd.mp3", AUDIO, "audio/mpeg")
    assert storage.get("outputs/ab12cd.mp3") == AUDIO
    assert storage.exists("outputs/ab12cd.mp3")


def test_missing_file_raises_file_missing(storage: FileStorage) -> None:
    with pytest.raises(FileMissing) as raised:
        storage.get("outputs/never.mp3")
    assert raised.value.key == "outputs/never.mp3"
    assert isinstance(raised.value, LookupError)
    assert not storage.exists("outputs/never.mp3")


def test_put_replaces_an_existing_file(storage: FileStorage) -> None:
    storage.put("uploads/x.wav", b"old contents", "audio/wav")
    storage.put("uploads/x.wav", b"new", "audio/wav")
    assert storage.get("uploads/x.wav") == b"new"


def test_empty_file_is_stored(storage: FileStorage) -> None:
    storage.put("uploads/empty.wav", b"", "audio/wav")
    assert storage.exists("uploads/empty.wav")
    assert storage.get("uploads/empty.wav") == b""


def test_delete_removes_and_is_idempotent(storage: FileStorage) -> None:
    storage.put("outputs/gone.flac", AUDIO, "audio/flac")
    storage.delete("outputs/gone.flac")
    assert not storage.exists("outputs/gone.flac")
    with pytest.raises(FileMissing):
        storage.get("outputs/gone.flac")
    storage.delete("outputs/gone.flac")
    storage.delete("never/stored.mp3")


def test_keys_are_independent_and_may_nest(storage: FileStorage) -> None:
    storage.put("a.mp3", b"top", "audio/mpeg")
    storage.put("outputs/2026/11/a.mp3", b"deep", "audio/mpeg")
    assert storage.get("a.mp3") == b"top"
    assert storage.get("outputs/2026/11/a.mp3") == b"deep"
    assert not storage.exists("outputs/2026")  # a "directory" is not a file


def test_open_path_is_a_readable_local_path_or_none(storage: FileStorage) -> None:
    storage.put("outputs/p.mp3", AUDIO, "audio/mpeg")
    path = storage.open_path("outputs/p.mp3")
    if isinstance(storage, LocalFileStorage):
        assert path is not None
        assert path.read_bytes() == AUDIO
        assert storage.open_path("outputs/absent.mp3") is None
    else:
        assert path is None


@pytest.mark.parametrize(
    "key",
    ["", "../escape.mp3", "outputs/../../escape.mp3", "/etc/passwd", "a//b", "a/", ".hidden", "a/./b", "a\\b", "a b"],
)
def test_unsafe_keys_are_refused_everywhere(storage: FileStorage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        storage.put(key, b"x", "audio/mpeg")
    for operation in (storage.get, storage.exists, storage.delete, storage.open_path):
        with pytest.raises(ValueError, match="invalid storage key"):
            operation(key)


def test_list_keys_of_an_empty_store_is_empty(storage: FileStorage) -> None:
    assert list(storage.list_keys(older_than=FUTURE)) == []


def test_list_keys_returns_every_key_as_put_takes_it(storage: FileStorage) -> None:
    keys = {"a.mp3", "outputs/x1.mp3", "uploads/y-2.wav", "outputs/2026/11/deep_name.flac"}
    for key in keys:
        storage.put(key, AUDIO, "audio/mpeg")
    listed = list(storage.list_keys(older_than=FUTURE))
    assert sorted(listed) == sorted(keys)  # each key once, no "directories"
    for key in listed:
        assert storage.get(key) == AUDIO


def test_list_keys_older_than_the_past_is_empty(storage: FileStorage) -> None:
    storage.put("outputs/new.mp3", AUDIO, "audio/mpeg")
    assert list(storage.list_keys(older_than=PAST)) == []


def test_list_keys_leaves_out_deleted_keys(storage: FileStorage) -> None:
    storage.put("outputs/kept.mp3", b"k", "audio/mpeg")
    storage.put("outputs/gone.mp3", b"g", "audio/mpeg")
    storage.delete("outputs/gone.mp3")
    assert list(storage.list_keys(older_than=FUTURE)) == ["outputs/kept.mp3"]


def test_keys_can_be_deleted_while_listing(storage: FileStorage) -> None:
    keys = {f"outputs/k{i}.mp3" for i in range(5)}
    for key in keys:
        storage.put(key, b"x", "audio/mpeg")
    seen = set()
    for key in storage.list_keys(older_than=FUTURE):
        seen.add(key)
        storage.delete(key)
    assert seen == keys
    assert list(storage.list_keys(older_than=FUTURE)) == []


def test_list_keys_refuses_a_naive_datetime(storage: FileStorage) -> None:
    with pytest.raises(ValueError, match="aware"):
        list(storage.list_keys(older_than=datetime.now()))  # naive on purpose
