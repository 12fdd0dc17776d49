"""A task's input is defined once, in ``aceserve.domain.inputs_models``: the OpenAPI request schemas, the
validator and the worker's request to the engine all come from that model, and the copies that
drifted apart (a hand-written OpenAPI schema, the worker's own parser, the engine's own bounds) are
gone. ``tests/api/test_fuzz.py`` checks with schemathesis that the server accepts what the schemas
accept and refuses what they refuse."""

from __future__ import annotations

import importlib.util
import inspect
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

import aceserve.api.schemas as api_schemas
import aceserve.api.schemas.common
import aceserve.api.schemas.openapi
import aceserve.api.schemas.resources
import aceserve.api.schemas.task  # noqa: F401 - the modules whose models are checked
from aceserve.domain import inputs_models
from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs import parse_create_request
from aceserve.domain.inputs_models import INPUT_MODELS, TaskInput, load_input
from aceserve.domain.inputs_schema import field
from aceserve.domain.states import TaskType
from aceserve.engine import plan
from aceserve.worker import execute
from aceserve.worker.request import ENGINE_FIELDS, WORKER_FIELDS, generation_request
from tests.api.server import make_settings, serving

URL = "https://cdn.example.com/in.mp3"
FULL_INPUTS: dict[TaskType, dict[str, Any]] = {
    TaskType.TXT2AUDIO: {
        "style_prompt": "rock",
        "lyrics": "[verse] a",
        "negative_style_prompt": "n",
        "duration": 12,
        "description": "a song about rain",
    },
    TaskType.AUDIO2AUDIO: {"style_audio": URL, "style_prompt": "jazz", "duration": 8, "audio_cover_strength": 0.4},
    TaskType.EDIT: {
        "audio": URL,
        "style_prompt": "pop",
        "lyrics": "[verse] x",
        "edit_style_prompt": "rock",
        "edit_lyrics": "[verse] y",
        "edit_n_min": 0.2,
        "edit_n_max": 0.4,
    },
    TaskType.EXTEND: {"audio": URL, "style_prompt": "lofi", "left_extend_duration": 2, "right_extend_duration": 3},
}
COMMON = {
    "seed": 9,
    "infer_steps": 12,
    "guidance_scale": 4.5,
    "output_format": "wav",
    "bpm": 96,
    "key_scale": "F# minor",
    "time_signature": 3,
    "vocal_language": "ja",
    "thinking": True,
    "lm_temperature": 0.7,
    "lm_cfg_scale": 1.5,
    "lm_top_p": 0.8,
    "lm_top_k": 40,
}


def parsed(task_type: TaskType) -> TaskInput:
    body = {"model": "Qubico/ace-step", "task_type": task_type.value, "input": {**FULL_INPUTS[task_type], **COMMON}}
    return parse_create_request(body).input


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("one-definition")
    with serving(make_settings(data, f"sqlite:///{data / 'db.sqlite3'}", workers=0)) as server:
        served: dict[str, Any] = server.client.get("/openapi.json").json()
        return served


@pytest.mark.parametrize("task_type", list(TaskType))
def test_the_served_request_schema_of_each_task_type_is_its_models_schema(
    document: dict[str, Any], task_type: TaskType
) -> None:
    model = INPUT_MODELS[task_type]
    generated = model.model_json_schema(ref_template=api_schemas.REF_TEMPLATE)
    generated.pop("$defs", None)
    assert document["components"]["schemas"][model.__name__] == generated


@pytest.mark.parametrize("task_type", list(TaskType))
def test_the_validator_returns_the_model_and_the_stored_echo_loads_back_as_it(task_type: TaskType) -> None:
    task_input = parsed(task_type)
    assert type(task_input) is INPUT_MODELS[task_type]
    assert load_input(task_type, task_input.echo()) == task_input


@pytest.mark.parametrize("task_type", list(TaskType))
def test_the_workers_engine_request_is_the_model_field_by_field(task_type: TaskType) -> None:
    task_input = parsed(task_type)
    audio = None if task_type is TaskType.TXT2AUDIO else np.zeros((2, 48_000), np.float32)
    request = generation_request(task_input, seed=5, audio=audio)
    assert request.task_type is task_type and request.seed == 5 and request.audio is audio
    fields = set(type(task_input).model_fields)
    for name in fields & ENGINE_FIELDS:
        assert getattr(request, name) == getattr(task_input, name), name
    assert fields - ENGINE_FIELDS <= WORKER_FIELDS, "an input field neither the engine nor the worker takes"


def test_the_copies_that_drifted_are_gone() -> None:
    assert importlib.util.find_spec("aceserve.api.schemas.requests") is None  # the hand-written OpenAPI copy
    assert not hasattr(execute, "build_request")  # the worker's own parser of the stored input
    assert not {"MAX_STEPS", "MAX_GUIDANCE", "DEFAULT_EDIT_N_MIN", "DEFAULT_DURATION"} & set(vars(plan))
    assert plan.MAX_SEED is inputs_models.MAX_SEED and plan.MAX_INFER_STEPS is inputs_models.MAX_INFER_STEPS
    assert plan.MAX_GUIDANCE_SCALE is inputs_models.MAX_GUIDANCE_SCALE
    for module in (api_schemas.common, api_schemas.openapi, api_schemas.resources, api_schemas.task):
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                assert "style_prompt" not in value.model_fields, f"{value.__name__} copies a task input"


def test_a_new_field_declared_once_is_documented_read_aliased_and_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a later field costs: one declaration, and everything else follows."""

    class WithSwing(inputs_models.Txt2AudioInput):
        swing: int | None = field(
            None, ge=0, le=100, echo="given", aliases=("shuffle",), description="[ext] Swing, in percent."
        )

    monkeypatch.setitem(INPUT_MODELS, TaskType.TXT2AUDIO, WithSwing)
    documented = WithSwing.model_json_schema()["properties"]["swing"]
    assert documented["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 100}
    assert documented["x-aliases"] == ["shuffle"] and documented["description"].startswith("[ext] Swing, in percent.")

    def parse(**fields: Any) -> TaskInput:
        body = {"model": "Qubico/ace-step", "task_type": "txt2audio", "input": {"style_prompt": "x", **fields}}
        return parse_create_request(body).input

    assert parse(shuffle=60).echo()["swing"] == 60 and "swing" not in parse().echo()
    with pytest.raises(InvalidInput, match=r"`input.swing` must be between 0 and 100; got 101"):
        parse(swing=101)
    assert "swing" not in ENGINE_FIELDS | WORKER_FIELDS  # the engine has no such field yet: the check above says so
