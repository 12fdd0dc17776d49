"""Files in an S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph...): for scale-out.

Several API and worker processes on different machines then see the same files. Credentials and
region come from boto3's usual chain (environment, config files, instance roles); none are handled
here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from aceserve.storage.base import FileMissing, check_aware, check_key, is_key

if TYPE_CHECKING:  # precise types when boto3-stubs[s3] is installed; Any otherwise
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def make_s3_client(endpoint_url: str | None = None) -> S3Client:
    """A boto3 S3 client with bounded timeouts and retries.

    For a custom endpoint, path-style addressing (``host/bucket/key``) is used because most
    self-hosted services do not serve bucket subdomains, and checksums are sent only where the
    API requires them: the newer default trailing checksums are not implemented by all of them.
    """
    options: dict[str, Any] = {
        "connect_timeout": 10,
        "read_timeout": 60,
        "retries": {"max_attempts": 5, "mode": "standard"},
    }
    if endpoint_url:
        options.update(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=Config(**options))


class S3FileStorage:
    """Stores each key as object ``prefix/key`` in ``bucket``; the bucket must already exist."""

    list_page_size = 1000  # objects per ListObjectsV2 request (S3's maximum)

    def __init__(
        self, bucket: str, prefix: str = "", endpoint_url: str | None = None, client: S3Client | None = None
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client = client if client is not None else make_s3_client(endpoint_url)

    def _object_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileMissing(key) from exc
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def open_path(self, key: str) -> Path | None:
        self._object_key(key)
        return None

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the object existed: already idempotent.
        self._client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def list_keys(self, *, older_than: datetime) -> Iterator[str]:
        """Page through ``ListObjectsV2`` under ``prefix/``, by each object's ``LastModified``.

        Keys come back relative to the prefix (what ``put`` takes). Objects whose relative name
        :func:`check_key` refuses (such as ``folder/`` placeholders some consoles create) are skipped.
        The bucket's clock decides ``LastModified``; callers allow for skew with a generous cutoff.
        Needs the ``s3:ListBucket`` permission.
        """
        cutoff = check_aware(older_than)
        # The trailing slash keeps prefix "a" from listing objects under "ab/".
        prefix = f"{self.prefix}/" if self.prefix else ""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": self.list_page_size}
        )
        for page in pages:
            for item in page.get("Contents", []):
                key = item["Key"][len(prefix) :]
                if item["LastModified"] < cutoff and is_key(key):
                    yield key


def _is_missing(exc: ClientError) -> bool:
    """A missing object, as opposed to a missing bucket, denied access, or an outage.

    GET says ``NoSuchKey``. HEAD has no body, so botocore reports only the status as the code:
    there a missing bucket also reads as a missing object, and the next ``put`` tells the truth.
    """
    return exc.response.get("Error", {}).get("Code") in _MISSING_CODES
