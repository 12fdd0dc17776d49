"""The whole path with S3-compatible storage: inputs, uploads and outputs live in a bucket, and the
API serves them from there (a real S3-compatible server on loopback)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx

from tests.e2e.conftest import serve_with_worker, wait_for
from tests.e2e.test_task_types import create, download_seconds
from tests.storage.conftest import aws_env, s3_endpoint  # noqa: F401  (fixtures)
from tests.storage.s3_testing import BUCKET, admin_client


def test_tasks_run_with_files_in_s3(
    tmp_path: Path,
    database_url: str,
    tiny_model: Path,
    s3_endpoint: str,  # noqa: F811
    aws_env: None,  # noqa: F811
    ten_second_wav: bytes,
) -> None:
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    with serve_with_worker(
        tmp_path / "d", database_url, tiny_model, storage_url=f"s3://{BUCKET}/{prefix}", s3_endpoint_url=s3_endpoint
    ) as server:
        upload = server.client.post(
            "/api/ephemeral_resource",
            json={"file_name": "in.wav", "file_data": base64.b64encode(ten_second_wav).decode()},
        )
        assert upload.status_code == 200, upload.text
        source = upload.json()["data"]["url"]
        assert httpx.get(source).content == ten_second_wav
        task = wait_for(
            server.client,
            create(server, "extend", audio=source, style_prompt="x", right_extend_duration=2, output_format="wav"),
        )
        assert task["status"] == "completed", task["error"]
        assert abs(download_seconds(task["output"]["audio_url"]) - 12.0) < 0.01
    keys = [item["Key"] for item in admin_client(s3_endpoint).list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert any("/uploads/" in key for key in keys) and any("/outputs/" in key for key in keys)
    assert not (tmp_path / "d" / "files").exists()
