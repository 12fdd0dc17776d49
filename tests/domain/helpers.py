"""Builders and assertions shared by the input-validation tests."""

from __future__ import annotations

from typing import Any

import pytest

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs import CreateTaskCommand, parse_create_request

URL = "https://cdn.example.com/in.mp3"

MINIMAL_INPUTS: dict[str, dict[str, Any]] = {
    "txt2audio": {"style_prompt": "rock"},
    "audio2audio": {"style_audio": URL, "style_prompt": "jazz"},
    "edit": {"audio": URL, "style_prompt": "rock", "edit_style_prompt": "jazz"},
    "extend": {"audio": URL, "style_prompt": "rock"},
}


def body(task_type: str = "txt2audio", /, **fields: Any) -> dict[str, Any]:
    """A valid request of ``task_type`` with ``fields`` added to (or replacing) its minimal input."""
    return {"model": "Qubico/ace-step", "task_type": task_type, "input": {**MINIMAL_INPUTS[task_type], **fields}}


def parse(request: object, **kwargs: Any) -> CreateTaskCommand:
    return parse_create_request(request, **kwargs)


def assert_invalid(request: object, field: str, *fragments: str, status: int = 400, **kwargs: Any) -> InvalidInput:
    """The request is refused (400, or 413 for a size limit) with a message that starts with the field
    and holds each fragment."""
    with pytest.raises(InvalidInput) as caught:
        parse_create_request(request, **kwargs)
    error = caught.value
    assert error.status_code == status
    assert error.field == field
    assert error.message.startswith(f"`{field}` "), error.message
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in {error.message!r}"
    return error
