"""/openapi.json documents the wire contract: a valid document, every endpoint of spec §1, request
schemas that accept the contract's bodies, and response schemas that real responses satisfy."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from aceserve.api import schemas
from aceserve.domain import uploads
from aceserve.domain.inputs_body import CreateTaskBody
from aceserve.domain.inputs_models import INPUT_MODELS
from aceserve.domain.states import MODEL_NAME, TaskType
from aceserve.domain.uploads import UploadRequest
from tests.api.server import RunningServer, make_settings, serving

# Spec §1, less /openapi.json and /docs, which serve the document rather than appear in it; plus the task's
# event stream (an aceserve addition).
CONTRACT_ENDPOINTS = {
    "/api/v1/task": {"post"},
    "/api/v1/task/{task_id}": {"get", "delete"},
    "/api/v1/task/{task_id}/events": {"get"},
    "/api/ephemeral_resource": {"post"},
    "/account/info": {"get"},
    "/account/active_tasks": {"get"},
    "/api/open/tasks/histories": {"get"},
    "/files/{name}": {"get"},
    "/health": {"get"},
}
AUTHENTICATED = set(CONTRACT_ENDPOINTS) - {"/files/{name}", "/health"}

# Spec §3 with each task type filled in from §3.1, and the request behind the §4 task object.
SPEC_CONFIG = {"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}}
SPEC_BODIES: list[dict[str, Any]] = [
    {
        "model": "Qubico/ace-step",
        "task_type": "txt2audio",
        "input": {"duration": 30, "lyrics": "[inst]", "negative_style_prompt": "", "style_prompt": "rock"},
        "config": SPEC_CONFIG,
    },
    {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "rock", "negative_prompt": "x"}},
    {
        "model": "Qubico/ace-step",
        "task_type": "audio2audio",
        "input": {"style_audio": "https://example.com/a.mp3", "style_prompt": "jazz", "lyrics": "[verse]\nla"},
        "config": {
            "service_mode": "private",
            "webhook_config": {"endpoint": "https://example.com/hook", "secret": "s"},
        },
    },
    {
        "model": "Qubico/ace-step",
        "task_type": "edit",
        "input": {"audio": "UklGRg==", "style_prompt": "pop", "edit_style_prompt": "rock", "edit_lyrics": "[inst]"},
    },
    {
        "model": "Qubico/ace-step",
        "task_type": "extend",
        "input": {"audio": "data:audio/wav;base64,UklGRg==", "left_extend_length": 5, "style_prompt": "rock"},
    },
    {
        "model": "Qubico/ace-step",
        "task_type": "txt2audio",
        "input": {"style_prompt": "rock", "seed": 7, "infer_steps": 8, "guidance_scale": 3.5, "output_format": "wav"},
        "config": {"service_mode": "public"},
        "unknown_top_level_field": True,
    },
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The document as a running server serves it (SQLite: the document does not depend on the backend)."""
    data = tmp_path_factory.mktemp("openapi")
    with serving(make_settings(data, f"sqlite:///{data / 'db.sqlite3'}", workers=0)) as server:
        response = server.client.get("/openapi.json")
        assert response.status_code == 200
        yield response.json()


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A validator for ``schema`` whose ``#/components/...`` references resolve in ``document``."""
    return Draft202012Validator({**schema, "components": document["components"]})


def component(document: dict[str, Any], name: str) -> Draft202012Validator:
    return validator(document, {"$ref": f"#/components/schemas/{name}"})


def request_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    body = document["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    return schema


def assert_documented(document: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """The response's status is documented for the operation and its JSON body fits that schema."""
    documented = document["paths"][path][method]["responses"]
    entry = documented.get(str(response.status_code))
    assert entry is not None, f"{method.upper()} {path} does not document {response.status_code}: {response.text}"
    schema = entry["content"]["application/json"]["schema"]
    errors = list(validator(document, schema).iter_errors(response.json()))
    assert not errors, f"{method.upper()} {path} {response.status_code}: {[e.message for e in errors]}"


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


# --- The document ------------------------------------------------------------------------------------


def test_the_document_is_a_valid_openapi_document(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_reference_in_the_document_resolves(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    refs = set(references(document["paths"])) | set(references(document["components"]))
    assert refs, "the document should refer to component schemas"
    unresolved = {ref for ref in refs if ref.removeprefix("#/components/schemas/") not in names}
    assert not unresolved


def test_every_contract_endpoint_is_documented_with_its_methods(document: dict[str, Any]) -> None:
    documented = {path: set(item) for path, item in document["paths"].items()}
    assert documented == CONTRACT_ENDPOINTS


def test_docs_and_the_document_are_served(api_server: RunningServer) -> None:
    assert api_server.client.get("/openapi.json").status_code == 200
    docs = api_server.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_authenticated_endpoints_document_both_ways_to_send_the_key(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    for path, methods in CONTRACT_ENDPOINTS.items():
        for method in methods:
            security = document["paths"][path][method].get("security")
            expected = [{"ApiKey": []}, {"Bearer": []}] if path in AUTHENTICATED else None
            assert security == expected, (method, path)


def test_each_operation_documents_the_error_statuses_it_can_answer(document: dict[str, Any]) -> None:
    expected = {
        ("post", "/api/v1/task"): {"400", "401", "402", "413", "429"},
        ("get", "/api/v1/task/{task_id}"): {"401", "404", "429"},
        ("delete", "/api/v1/task/{task_id}"): {"400", "401", "404", "429"},
        ("post", "/api/ephemeral_resource"): {"400", "401", "413", "429"},
        ("get", "/account/info"): {"401", "429"},
        ("get", "/account/active_tasks"): {"401", "429"},
        ("get", "/api/open/tasks/histories"): {"400", "401", "429"},
        ("get", "/files/{name}"): {"404"},
        ("get", "/health"): {"503"},
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for (method, path), statuses in expected.items():
        responses = document["paths"][path][method]["responses"]
        assert set(responses) == {"200", "default", *statuses}, (method, path)
        assert "422" not in responses  # validation failures are 400
        for status in [*statuses, "default"]:
            assert responses[status]["content"]["application/json"]["schema"] == error_ref, (method, path, status)
        if "429" in statuses:
            assert "Retry-After" in responses["429"]["headers"]


def test_operation_ids_are_short_and_unique(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for item in document["paths"].values() for operation in item.values()]
    assert len(ids) == len(set(ids)) == len(CONTRACT_ENDPOINTS) + 1  # + DELETE on the task
    assert all(len(operation_id) <= 20 for operation_id in ids), ids


# --- Request schemas --------------------------------------------------------------------------------


def test_the_create_request_is_one_schema_per_task_type(document: dict[str, Any]) -> None:
    schema = request_schema(document, "/api/v1/task")
    assert schema["discriminator"]["propertyName"] == "task_type"
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == {t.value for t in TaskType}
    components = document["components"]["schemas"]
    for task_type, ref in mapping.items():
        branch = components[ref.rsplit("/", 1)[1]]
        assert branch["required"] == ["model", "task_type", "input"]
        assert branch["properties"]["model"]["const"] == MODEL_NAME
        assert branch["properties"]["task_type"]["const"] == task_type
        model = INPUT_MODELS[TaskType(task_type)]
        assert branch["properties"]["input"] == {"$ref": f"#/components/schemas/{model.__name__}"}


@pytest.mark.parametrize("body", SPEC_BODIES, ids=lambda body: body["task_type"])
def test_the_create_request_schema_accepts_the_contract_bodies(document: dict[str, Any], body: dict[str, Any]) -> None:
    validator(document, request_schema(document, "/api/v1/task")).validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {"task_type": "txt2audio", "input": {"style_prompt": "rock"}},
        {"model": "Qubico/ace-step", "task_type": "remix", "input": {"style_prompt": "rock"}},
        {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"duration": 30}},
        {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": " "}},
        {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", "duration": 0.5}},
        {"model": "Qubico/ace-step", "task_type": "edit", "input": {"style_prompt": "x", "audio": "ftp://a/b"}},
    ],
)
def test_the_create_request_schema_rejects_bodies_the_server_rejects(
    document: dict[str, Any], body: dict[str, Any], api_server: RunningServer
) -> None:
    assert not validator(document, request_schema(document, "/api/v1/task")).is_valid(body)
    assert api_server.client.post("/api/v1/task", json=body).status_code == 400


def test_the_documented_request_examples_are_accepted_by_schema_and_server(
    document: dict[str, Any], api_server: RunningServer
) -> None:
    for path in ("/api/v1/task", "/api/ephemeral_resource"):
        content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert content["examples"]
        for name, example in content["examples"].items():
            validator(document, content["schema"]).validate(example["value"])
            response = api_server.client.post(path, json=example["value"])
            assert response.status_code == 200, (name, response.text)


def test_request_models_that_bodies_refer_to_are_the_documented_components(document: dict[str, Any]) -> None:
    """Request bodies refer to components (see ``aceserve.api.schemas``); each is the model's own schema."""
    components = document["components"]["schemas"]
    for body_type in (CreateTaskBody, UploadRequest):
        defs = TypeAdapter(body_type).json_schema(ref_template=schemas.REF_TEMPLATE).get("$defs", {})
        for name, schema in defs.items():
            assert components[name] == schema, name


def test_the_upload_request_schema_matches_the_upload_rules(document: dict[str, Any]) -> None:
    schema = request_schema(document, "/api/ephemeral_resource")
    assert schema["required"] == ["file_name", "file_data"]
    assert schema["properties"]["file_name"]["maxLength"] == uploads.MAX_FILE_NAME
    check = validator(document, schema)
    for ext in uploads.UPLOAD_EXTENSIONS:
        check.validate({"file_name": f"a.{ext.upper()}", "file_data": "AAAA"})
    assert not check.is_valid({"file_name": "a.exe", "file_data": "AAAA"})


def test_the_example_upload_is_accepted_by_the_upload_rules() -> None:
    wav = base64.b64decode(schemas.TINY_WAV_DATA_URI.partition(",")[2])
    assert uploads.check_upload({"file_name": "x.wav", "file_data": schemas.TINY_WAV_DATA_URI}).data == wav


# --- Real responses fit the documented schemas ------------------------------------------------------


def create(server: RunningServer, **input_fields: Any) -> httpx.Response:
    body = {"model": MODEL_NAME, "task_type": "txt2audio", "input": {"style_prompt": "rock", **input_fields}}
    return server.client.post("/api/v1/task", json=body)


def test_create_get_and_cancel_responses_fit_the_task_schema(
    document: dict[str, Any], api_server: RunningServer
) -> None:
    created = create(api_server, seed=3, output_format="FLAC")
    assert_documented(document, "post", "/api/v1/task", created)
    task_id = created.json()["data"]["task_id"]
    fetched = api_server.client.get(f"/api/v1/task/{task_id}")
    assert_documented(document, "get", "/api/v1/task/{task_id}", fetched)
    cancelled = api_server.client.delete(f"/api/v1/task/{task_id}")
    assert cancelled.json()["data"]["status"] == "failed"
    assert_documented(document, "delete", "/api/v1/task/{task_id}", cancelled)


def test_tasks_with_inline_audio_fit_the_task_schema(
    document: dict[str, Any], api_server: RunningServer, wav_bytes: bytes
) -> None:
    audio = base64.b64encode(wav_bytes).decode()
    bodies = [
        {"task_type": "audio2audio", "input": {"style_audio": audio, "style_prompt": "jazz", "duration": 5}},
        {"task_type": "edit", "input": {"audio": audio, "style_prompt": "pop", "edit_style_prompt": "rock"}},
        {"task_type": "extend", "input": {"audio": f"data:audio/wav;base64,{audio}", "style_prompt": "rock"}},
    ]
    for body in bodies:
        response = api_server.client.post("/api/v1/task", json={"model": MODEL_NAME, **body})
        assert response.status_code == 200, response.text
        assert_documented(document, "post", "/api/v1/task", response)


def test_the_task_schema_refuses_extra_top_level_keys(document: dict[str, Any], api_server: RunningServer) -> None:
    body = create(api_server).json()
    body["data"]["unexpected"] = 1
    assert not component(document, "TaskResponse").is_valid(body)


def test_error_responses_fit_the_error_schema(document: dict[str, Any], api_server: RunningServer) -> None:
    cases = [
        ("post", "/api/v1/task", api_server.client.post("/api/v1/task", json={"model": "other"}), 400),
        ("post", "/api/v1/task", api_server.client.post("/api/v1/task", content=b"{not json"), 400),
        ("post", "/api/v1/task", api_server.anonymous().post("/api/v1/task", json={}), 401),
        ("get", "/api/v1/task/{task_id}", api_server.client.get("/api/v1/task/nope"), 404),
        ("delete", "/api/v1/task/{task_id}", api_server.client.delete("/api/v1/task/nope"), 404),
        ("get", "/account/info", api_server.anonymous().get("/account/info", headers={"x-api-key": "bad"}), 401),
        ("get", "/api/open/tasks/histories", api_server.client.get("/api/open/tasks/histories?page=abc"), 400),
        ("get", "/api/open/tasks/histories", api_server.client.get("/api/open/tasks/histories?page_size=101"), 400),
        ("post", "/api/ephemeral_resource", api_server.client.post("/api/ephemeral_resource", json=[]), 400),
        ("get", "/files/{name}", api_server.client.get("/files/missing.mp3"), 404),
    ]
    for method, path, response, status in cases:
        assert response.status_code == status, (method, path, response.text)
        assert_documented(document, method, path, response)


def test_cancelling_an_ended_task_is_a_documented_400(document: dict[str, Any], api_server: RunningServer) -> None:
    task_id = create(api_server).json()["data"]["task_id"]
    api_server.client.delete(f"/api/v1/task/{task_id}")
    again = api_server.client.delete(f"/api/v1/task/{task_id}")
    assert again.status_code == 400
    assert_documented(document, "delete", "/api/v1/task/{task_id}", again)


def test_insufficient_credit_and_oversized_uploads_are_documented(
    document: dict[str, Any], api_server: RunningServer
) -> None:
    with api_server.as_key(api_server.new_key("poor", credits_usd=0)) as poor:
        refused = poor.post(
            "/api/v1/task", json={"model": MODEL_NAME, "task_type": "txt2audio", "input": {"style_prompt": "x"}}
        )
    assert refused.status_code == 402
    assert_documented(document, "post", "/api/v1/task", refused)
    just_over = "A" * (4 * (uploads.MAX_UPLOAD_BYTES // 3 + 1))  # base64 of 10 MB + 2 bytes; the body fits
    too_big = api_server.client.post("/api/ephemeral_resource", json={"file_name": "a.wav", "file_data": just_over})
    assert too_big.status_code == 413
    assert_documented(document, "post", "/api/ephemeral_resource", too_big)


def test_rate_limited_responses_are_documented(document: dict[str, Any], tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path / "data", database_url, workers=0, rate_limit_per_minute=1)
    with serving(settings) as server:
        assert server.client.get("/account/info").status_code == 200
        limited = server.client.get("/account/info")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert_documented(document, "get", "/account/info", limited)


def test_upload_response_fits_the_upload_schema(
    document: dict[str, Any], api_server: RunningServer, wav_bytes: bytes
) -> None:
    body = {"file_name": "tone.wav", "file_data": base64.b64encode(wav_bytes).decode()}
    response = api_server.client.post("/api/ephemeral_resource", json=body)
    assert response.status_code == 200
    assert_documented(document, "post", "/api/ephemeral_resource", response)
    download = api_server.client.get(response.json()["data"]["url"])
    assert download.status_code == 200
    content = document["paths"]["/files/{name}"]["get"]["responses"]["200"]["content"]
    assert download.headers["content-type"].split(";")[0] in content


def test_account_responses_fit_their_schemas(document: dict[str, Any], api_server: RunningServer) -> None:
    create(api_server)
    cancelled = create(api_server).json()["data"]["task_id"]
    api_server.client.delete(f"/api/v1/task/{cancelled}")
    for path in ("/account/info", "/account/active_tasks", "/api/open/tasks/histories"):
        response = api_server.client.get(path)
        assert response.status_code == 200
        assert_documented(document, "get", path, response)
    with api_server.as_key(api_server.new_key("metered", credits_usd=5)) as metered:
        assert_documented(document, "get", "/account/info", metered.get("/account/info"))
    other_model = api_server.client.get("/api/open/tasks/histories", params={"model": "other", "page_size": 100})
    assert_documented(document, "get", "/api/open/tasks/histories", other_model)
    assert len(api_server.client.get("/api/open/tasks/histories").json()["data"]["data"]) == 2


def test_health_fits_its_schema(document: dict[str, Any], api_server: RunningServer) -> None:
    response = api_server.client.get("/health")
    assert response.status_code == 200
    assert_documented(document, "get", "/health", response)
