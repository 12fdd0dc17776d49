"""What an agent sees: the MCP tools, their descriptions and input schemas.

The task tools' input schemas are the task input models' own JSON schemas (``domain/inputs_models.py``),
tidied for agents (no titles, ``$defs`` inlined, the ``[ext]`` marks of the REST docs dropped) plus the
one control field ``wait``; nothing here lists an input field by hand.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from aceserve.domain.inputs_models import INPUT_MODELS, MAX_PROMPT_CHARS, TaskInput
from aceserve.domain.inputs_schema import EchoOnlyKind
from aceserve.domain.limits import MAX_OUTPUT_SECONDS
from aceserve.domain.states import TaskType

MAX_LIST_PAGE_SIZE = 100

_LYRIC_TAGS = (
    "Lyrics are plain text in sections, each opened by a tag on its own line: [intro], [verse], [pre-chorus], "
    '[chorus], [bridge], [outro] (e.g. "[verse]\\nneon lights\\n[chorus]\\nwe run all night"); "[inst]" or '
    "empty lyrics make an instrumental."
)
_SAME_TAGS = "Lyrics take make_song's section tags ([verse], [chorus] …; [inst] for none)."
_STYLE = 'style_prompt names genre, instruments, mood and tempo ("lofi hip hop, mellow piano, 80 bpm").'
_WAITS = (
    "Waits for the result, sending progress notifications, and returns audio_url, duration, seed and plan (where "
    "the planner ran); with wait=false it returns the task_id at once (follow it with get_task). Cancelling the "
    "call cancels the task."
)
_AUDIO_IN = "Audio inputs are an http(s) URL (the audio_url of an earlier task works), a data: URI or base64."
_WAIT_FIELD = {
    "type": "boolean",
    "default": True,
    "description": "true: wait for the result (progress notifications); false: return the task id at once.",
}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    task_type: TaskType | None = None
    """The task type a create tool makes; None for the other tools."""
    read_only: bool = False


def task_input_schema(model: type[TaskInput]) -> dict[str, Any]:
    """A task type's input model as a tool's input schema, plus ``wait``."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    properties: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        if any(isinstance(meta, EchoOnlyKind) for meta in model.model_fields[name].metadata):
            continue  # echoed for PiAPI's sake, never used: an agent has nothing to set there
        properties[name] = _for_agents(prop, defs)
    properties["wait"] = dict(_WAIT_FIELD)
    return {"type": "object", "properties": properties, "required": list(schema.get("required", []))}


def _for_agents(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_for_agents(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _for_agents(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]), defs)
    tidy: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or key.startswith("x-"):
            continue
        if key == "description" and isinstance(value, str):
            value = value.removeprefix("[ext] ")
        tidy[key] = _for_agents(value, defs)
    return tidy


def _task_id_schema(*, wait_default: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "task_id": {"type": "string", "minLength": 1, "description": "The task's id."},
            "wait": {**_WAIT_FIELD, "default": wait_default},
        },
        "required": ["task_id"],
    }


def build_catalogue() -> dict[str, ToolSpec]:
    tools = [
        ToolSpec(
            "make_song",
            "Make a song",
            f"Make music from a style prompt and lyrics (txt2audio). {_STYLE} {_LYRIC_TAGS} duration is in "
            f"seconds (1–{MAX_OUTPUT_SECONDS:g}, default 30). Optional: seed (same seed, same song), bpm, key_scale, "
            "time_signature, vocal_language; description (≤ "
            f"{MAX_PROMPT_CHARS} characters) has the planner write caption and lyrics on servers with an LM. " + _WAITS,
            task_input_schema(INPUT_MODELS[TaskType.TXT2AUDIO]),
            TaskType.TXT2AUDIO,
        ),
        ToolSpec(
            "restyle_audio",
            "Restyle audio",
            "Re-render existing audio (style_audio) in another style (audio2audio): style_prompt says the style "
            "wanted, audio_cover_strength (0–1) how closely to follow the input. "
            f"{_AUDIO_IN} {_SAME_TAGS} " + _WAITS,
            task_input_schema(INPUT_MODELS[TaskType.AUDIO2AUDIO]),
            TaskType.AUDIO2AUDIO,
        ),
        ToolSpec(
            "edit_audio",
            "Edit audio",
            "Change the style or lyrics of existing audio (edit): style_prompt and lyrics describe the input audio, "
            "edit_style_prompt and edit_lyrics what you want; edit_n_min/edit_n_max (0–1) set how hard it edits "
            f"(lower edits harder). {_AUDIO_IN} {_SAME_TAGS} " + _WAITS,
            task_input_schema(INPUT_MODELS[TaskType.EDIT]),
            TaskType.EDIT,
        ),
        ToolSpec(
            "extend_audio",
            "Extend audio",
            "Add music before (left_extend_duration) and after (right_extend_duration, default 30 s) existing audio; "
            f"the original samples are kept exactly. {_AUDIO_IN} {_STYLE} " + _WAITS,
            task_input_schema(INPUT_MODELS[TaskType.EXTEND]),
            TaskType.EXTEND,
        ),
        ToolSpec(
            "get_task",
            "Get a task",
            "A task's status and, once completed, its audio_url, duration, seed and plan. wait=true waits for it "
            "to end, with progress notifications.",
            _task_id_schema(wait_default=False),
            read_only=True,
        ),
        ToolSpec(
            "list_tasks",
            "List recent tasks",
            "This account's tasks, newest first, one page at a time.",
            {
                "type": "object",
                "properties": {
                    "page": {"type": "integer", "minimum": 1, "default": 1, "description": "1-based page."},
                    "page_size": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_LIST_PAGE_SIZE,
                        "default": 10,
                        "description": f"Tasks per page, at most {MAX_LIST_PAGE_SIZE}.",
                    },
                },
            },
            read_only=True,
        ),
        ToolSpec(
            "cancel_task",
            "Cancel a task",
            "Cancel a staged, pending or processing task; its frozen credit is released.",
            {
                "type": "object",
                "properties": {"task_id": {"type": "string", "minLength": 1, "description": "The task's id."}},
                "required": ["task_id"],
            },
        ),
        ToolSpec(
            "account_credit",
            "Account credit",
            "This account's credit in USD (or unlimited), credit frozen by running tasks, and how many tasks it "
            "may run at once.",
            {"type": "object", "properties": {}},
            read_only=True,
        ),
    ]
    return {tool.name: tool for tool in tools}
