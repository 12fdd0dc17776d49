"""Names shared by the storage tests and their fixtures."""

from __future__ import annotations

from typing import Any

import boto3

BUCKET = "aceserve-test"


def admin_client(endpoint: str) -> Any:
    """A client with explicit dummy credentials, for setting up and inspecting the test server."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
