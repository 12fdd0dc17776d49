"""Both stores under test: a tmp directory, and a real S3-compatible HTTP server on loopback (moto)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aceserve.storage import FileStorage, LocalFileStorage, S3FileStorage
from tests.storage.s3_testing import BUCKET, admin_client

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask an instance-metadata endpoint for credentials
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_AWS_ENV_REMOVED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3-compatible server (moto) on a free loopback port, with the test bucket."""
    server_module = pytest.importorskip("moto.server", reason="install the dev extras: moto[s3,server]")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    admin_client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials for code that builds its own boto3 client, isolated from the machine's."""
    for name, value in _AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in _AWS_ENV_REMOVED:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> FileStorage:
    """Each implementation in turn; S3 tests get a fresh prefix in the shared bucket."""
    if request.param == "local":
        return LocalFileStorage(tmp_path / "files")
    endpoint = request.getfixturevalue("s3_endpoint")
    return S3FileStorage(BUCKET, prefix=f"tests/{uuid.uuid4().hex}", client=admin_client(endpoint))
