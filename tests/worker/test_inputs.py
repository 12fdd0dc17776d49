from __future__ import annotations

from pathlib import Path

import pytest

from aceserve.fetch import SafeFetcher
from aceserve.settings import Settings
from aceserve.storage import LocalFileStorage
from aceserve.store.db import Database
from aceserve.worker.inputs import InputResolver


@pytest.mark.parametrize(
    ("public_url", "url", "own"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/files/abc.mp3", ("abc", "mp3")),
        ("http://127.0.0.1:8000", "/files/abc.mp3", ("abc", "mp3")),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8001/files/abc.mp3", None),
        ("http://127.0.0.1:8000", "https://127.0.0.1:8000/files/abc.mp3", None),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/files/abc.mp3?x=1", None),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/other/files/abc.mp3", None),
        ("https://music.example/aceserve", "https://music.example/aceserve/files/abc.mp3", ("abc", "mp3")),
        ("https://music.example/aceserve", "https://music.example/files/abc.mp3", None),
        ("https://music.example/aceserve", "https://music.example/aceservex/files/abc.mp3", None),
    ],
)
def test_own_file_urls_are_recognised_only_on_this_servers_origin_and_path(
    tmp_path: Path, public_url: str, url: str, own: tuple[str, str] | None
) -> None:
    settings = Settings(data_dir=tmp_path, public_url=public_url)
    resolver = InputResolver(
        settings,
        Database(settings.database_url),
        LocalFileStorage(tmp_path),
        SafeFetcher(max_bytes=1, timeout_seconds=1),
    )
    assert resolver.own_file(url) == own
