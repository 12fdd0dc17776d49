"""Property-based fuzzing of every documented operation with schemathesis, against a running server
and the /openapi.json it serves: no 5xx; status codes, content types, headers and bodies as
documented; authentication enforced; every error body in the PiAPI envelope.

Each operation gets ``ACESERVE_FUZZ_EXAMPLES`` (default 12) cases that fit the schema and as many
that break it, so the default suite stays short; set it higher for a longer run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.server import RunningServer

FUZZ_EXAMPLES = int(os.environ.get("ACESERVE_FUZZ_EXAMPLES", "12"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
# (method, path, whether schemathesis can generate inputs that break the schema: /health takes none
# and /files/{name} only a string in the path, so every candidate is filtered out)
OPERATIONS = [
    ("POST", "/api/v1/task", True),
    ("GET", "/api/v1/task/{task_id}", True),
    ("DELETE", "/api/v1/task/{task_id}", True),
    ("POST", "/api/ephemeral_resource", True),
    ("GET", "/account/info", True),
    ("GET", "/account/active_tasks", True),
    ("GET", "/api/open/tasks/histories", True),
    ("GET", "/files/{name}", False),
    ("GET", "/health", False),
]


@pytest.mark.parametrize(("method", "path", "negatable"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_fuzzed_requests_are_answered_as_documented(
    api_server: RunningServer, method: str, path: str, negatable: bool
) -> None:
    operation = schemathesis.openapi.from_url(f"{api_server.url}/openapi.json")[path][method]
    headers = {"x-api-key": api_server.key}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if negatable else [GenerationMode.POSITIVE]

    for mode in modes:

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
        )
        def answered_as_documented(case: Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"code", "data", "message"}, body
                assert body["code"] == response.status_code and body["data"] is None, body
                assert isinstance(body["message"], str) and body["message"].strip(), body

        answered_as_documented()
