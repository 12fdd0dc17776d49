from __future__ import annotations

from pathlib import Path

import pytest

from aceserve.settings import load_settings


def test_flags_beat_environment_beat_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aceserve.toml"
    config.write_text('port = 9001\nmax_batch_size = 2\nmodel = "from-file"\n')
    monkeypatch.setenv("ACESERVE_MODEL", "from-env")
    settings = load_settings(config, port=9002, data_dir=tmp_path)
    assert settings.port == 9002 and settings.model == "from-env" and settings.max_batch_size == 2
    assert settings.database_url == f"sqlite:///{(tmp_path / 'aceserve.sqlite3').resolve()}"
    assert settings.public_url == "http://127.0.0.1:9002"


def test_invalid_values_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_batch_size"):
        load_settings(None, max_batch_size=0)
    config = tmp_path / "bad.toml"
    config.write_text("no_such_setting = 1\n")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(config)


def test_the_encode_pool_defaults_to_the_cores_less_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert load_settings(None).encode_pool_size == 7
    assert load_settings(None, encode_workers=3).encode_pool_size == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert load_settings(None).encode_pool_size == 1
    monkeypatch.setenv("ACESERVE_PIPELINING", "false")
    monkeypatch.setenv("ACESERVE_PREFETCH_BATCHES", "2")
    settings = load_settings(None)
    assert settings.pipelining is False and settings.prefetch_batches == 2
