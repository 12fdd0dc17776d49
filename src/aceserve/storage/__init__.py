"""Where files live: uploads and outputs, in a local directory or an S3-compatible bucket."""

from __future__ import annotations

from pathlib import Path

from aceserve.storage.base import FileMissing, FileStorage, check_key
from aceserve.storage.local import LocalFileStorage
from aceserve.storage.s3 import S3FileStorage, make_s3_client

__all__ = [
    "FileMissing",
    "FileStorage",
    "LocalFileStorage",
    "S3FileStorage",
    "check_key",
    "make_s3_client",
    "open_storage",
]


def open_storage(storage_url: str, *, files_dir: Path, s3_endpoint_url: str = "") -> FileStorage:
    """The store the settings name: ``""`` for ``files_dir``, ``s3://bucket/prefix`` for S3.

    Nothing is contacted here; a wrong bucket or credentials show up on first use.
    """
    if not storage_url:
        return LocalFileStorage(files_dir)
    scheme, separator, rest = storage_url.partition("://")
    if scheme.lower() == "s3" and separator:
        bucket, _, prefix = rest.partition("/")
        if bucket:
            return S3FileStorage(bucket, prefix, endpoint_url=s3_endpoint_url or None)
    raise ValueError(f"storage_url {storage_url!r} must be empty (local files) or s3://bucket[/prefix]")
