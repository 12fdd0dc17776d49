from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from aceserve.storage import FileMissing, LocalFileStorage, S3FileStorage, open_storage
from tests.storage.s3_testing import BUCKET, admin_client


def test_objects_live_under_the_prefix_with_their_content_type(s3_endpoint: str) -> None:
    client = admin_client(s3_endpoint)
    prefix = f"p-{uuid.uuid4().hex}"
    storage = S3FileStorage(BUCKET, prefix=f"/{prefix}/", client=client)
    storage.put("outputs/a.mp3", b"abc", "audio/mpeg")
    head = client.head_object(Bucket=BUCKET, Key=f"{prefix}/outputs/a.mp3")
    assert head["ContentType"] == "audio/mpeg"
    assert head["ContentLength"] == 3


def test_a_missing_bucket_is_an_error_not_a_missing_file(s3_endpoint: str) -> None:
    storage = S3FileStorage("no-such-bucket", client=admin_client(s3_endpoint))
    with pytest.raises(ClientError) as raised:
        storage.get("a.mp3")
    assert not isinstance(raised.value, FileMissing)
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


@pytest.mark.usefixtures("aws_env")
def test_open_storage_s3_url_uses_the_endpoint_and_environment_credentials(s3_endpoint: str, tmp_path: Path) -> None:
    prefix = f"via-url-{uuid.uuid4().hex}"
    storage = open_storage(f"s3://{BUCKET}/{prefix}", files_dir=tmp_path, s3_endpoint_url=s3_endpoint)
    assert isinstance(storage, S3FileStorage)
    assert (storage.bucket, storage.prefix) == (BUCKET, prefix)
    storage.put("outputs/x.wav", b"RIFF", "audio/wav")
    assert admin_client(s3_endpoint).get_object(Bucket=BUCKET, Key=f"{prefix}/outputs/x.wav")["Body"].read() == b"RIFF"
    assert storage.get("outputs/x.wav") == b"RIFF"
    with pytest.raises(FileMissing):
        storage.get("outputs/y.wav")


@pytest.mark.usefixtures("aws_env")
def test_open_storage_bucket_without_prefix(tmp_path: Path) -> None:
    storage = open_storage("s3://bucket", files_dir=tmp_path)
    assert isinstance(storage, S3FileStorage)
    assert (storage.bucket, storage.prefix) == ("bucket", "")


def test_open_storage_empty_is_the_local_directory(tmp_path: Path) -> None:
    storage = open_storage("", files_dir=tmp_path / "files")
    assert isinstance(storage, LocalFileStorage)
    assert storage.root == tmp_path / "files"


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "file:///srv/files", "/srv/files", "gs://bucket/x"])
def test_open_storage_refuses_other_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="must be empty"):
        open_storage(url, files_dir=tmp_path)


FUTURE = datetime.now(UTC) + timedelta(days=1)


def test_list_keys_stays_under_the_prefix(s3_endpoint: str) -> None:
    client = admin_client(s3_endpoint)
    prefix = f"p-{uuid.uuid4().hex}"
    storage = S3FileStorage(BUCKET, prefix=prefix, client=client)
    storage.put("outputs/mine.mp3", b"x", "audio/mpeg")
    client.put_object(Bucket=BUCKET, Key=f"{prefix}x/outputs/neighbour.mp3", Body=b"n")  # shares the text prefix
    client.put_object(Bucket=BUCKET, Key=f"{prefix}-other/a.mp3", Body=b"o")
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/outputs/", Body=b"")  # a console's "folder"
    client.put_object(Bucket=BUCKET, Key=f"{prefix}/outputs/with space.mp3", Body=b"f")
    assert list(storage.list_keys(older_than=FUTURE)) == ["outputs/mine.mp3"]


def test_list_keys_pages_through_the_listing(s3_endpoint: str) -> None:
    client = admin_client(s3_endpoint)
    storage = S3FileStorage(BUCKET, prefix=f"pages-{uuid.uuid4().hex}", client=client)
    storage.list_page_size = 2
    keys = {f"outputs/k{i}.mp3" for i in range(7)}
    for key in keys:
        storage.put(key, b"x", "audio/mpeg")
    requests: list[object] = []
    client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kwargs: requests.append(kwargs))
    listed = list(storage.list_keys(older_than=FUTURE))
    assert sorted(listed) == sorted(keys)
    assert len(requests) == 4  # 2 + 2 + 2 + 1


def test_list_keys_without_a_prefix_lists_the_bucket(s3_endpoint: str) -> None:
    client = admin_client(s3_endpoint)
    bucket = f"whole-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    storage = S3FileStorage(bucket, client=client)
    storage.put("a.mp3", b"x", "audio/mpeg")
    storage.put("outputs/b.mp3", b"x", "audio/mpeg")
    assert sorted(storage.list_keys(older_than=FUTURE)) == ["a.mp3", "outputs/b.mp3"]
