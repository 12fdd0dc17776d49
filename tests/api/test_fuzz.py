"""Property-based fuzzing of every documented operation with schemathesis, in process, against the
/openapi.json the app serves: no 5xx; status codes, content types, headers and bodies as documented;
authentication enforced; every error body in the PiAPI envelope. And the request schemas say what
the server does: what they refuse, the server refuses (``negative_data_rejection``), and what they
accept, it accepts (``positive_data_acceptance``) wherever JSON Schema can say so.

Each operation gets ``ACESERVE_FUZZ_EXAMPLES`` (default 12) cases that fit the schema and as many
that break it, so the default suite stays short; set it higher for a longer run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aceserve.api.app import create_app
from aceserve.domain.inputs_models import AUDIO_FIELDS, DEFAULT_EDIT_N_MAX, DEFAULT_EDIT_N_MIN, MAX_OUTPUT_SECONDS
from tests.api.server import key_for_tester, make_settings

FUZZ_EXAMPLES = int(os.environ.get("ACESERVE_FUZZ_EXAMPLES", "12"))
CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
    negative_data_rejection,
]
# (method, path, whether schemathesis can generate inputs that break the schema: /health takes none
# and /files/{name} only a string in the path, so every candidate is filtered out; whether JSON Schema
# decides what the server accepts: an upload's bytes must be audio, and a history time must be a real
# calendar time with a UTC form)
OPERATIONS = [
    ("POST", "/api/v1/task", True, True),
    ("GET", "/api/v1/task/{task_id}", True, True),
    ("DELETE", "/api/v1/task/{task_id}", True, True),
    ("POST", "/api/ephemeral_resource", True, False),
    ("GET", "/account/info", True, True),
    ("GET", "/account/active_tasks", True, True),
    ("GET", "/api/open/tasks/histories", True, False),
    ("GET", "/files/{name}", False, True),
    ("GET", "/health", False, True),
]


def decided_by_schema(case: Case) -> bool:
    """Whether the create schema alone decides that this body is accepted. JSON Schema cannot say that
    inline audio must decode to audio, nor relate two fields: extend's total length, edit's window;
    and which adapters a server loaded (``lora``) is the server's start-up, not the schema's."""
    body = case.body
    task_input = body.get("input") if isinstance(body, dict) else None
    if not isinstance(task_input, dict):
        return True
    given = {name: value for name, value in task_input.items() if value is not None}
    if given.get("lora"):
        return False
    for name in AUDIO_FIELDS & set(given):
        if not str(given[name]).lower().startswith(("http://", "https://")):
            return False
    if body.get("task_type") == "extend":
        total = given.get("left_extend_duration", 0) + given.get("right_extend_duration", 30)
        return 0 < total <= MAX_OUTPUT_SECONDS
    if body.get("task_type") == "edit":
        return bool(given.get("edit_n_min", DEFAULT_EDIT_N_MIN) < given.get("edit_n_max", DEFAULT_EDIT_N_MAX))
    return True


@pytest.fixture
def fuzzed(tmp_path: Path, database_url: str) -> Iterator[tuple[schemathesis.BaseSchema, str]]:
    """The served document, bound to an app that schemathesis calls in process (it runs the app's
    lifespan itself, so the app is a fresh one, stopped at the end)."""
    settings = make_settings(tmp_path / "data", database_url, workers=0)
    key = key_for_tester(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))
    try:
        yield schema, key
    finally:
        asgi.shutdown_lifespans()


@pytest.mark.parametrize(
    ("method", "path", "negatable", "decidable"), OPERATIONS, ids=[f"{m} {p}" for m, p, _, _ in OPERATIONS]
)
def test_fuzzed_requests_are_answered_as_documented(
    fuzzed: tuple[schemathesis.BaseSchema, str], method: str, path: str, negatable: bool, decidable: bool
) -> None:
    schema, key = fuzzed
    operation = schema[path][method]
    headers = {"x-api-key": key}
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
            checks = list(CHECKS)
            if decidable and (path != "/api/v1/task" or decided_by_schema(case)):
                checks.append(positive_data_acceptance)
            response = case.call_and_validate(headers=headers, checks=checks)
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"code", "data", "message"}, body
                assert body["code"] == response.status_code and body["data"] is None, body
                assert isinstance(body["message"], str) and body["message"].strip(), body

        answered_as_documented()
