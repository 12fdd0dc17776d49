"""Validation and normalization of a create-task request body (spec §3), independent of HTTP.

``parse_create_request(body)`` takes the parsed JSON and returns a ``CreateTaskCommand`` or raises
``InvalidInput`` (HTTP 400) whose message names the full field path and the rule. The command's
``input`` is the normalized echo of spec §4: canonical names only (aliases mapped), defaults of the
§3.1 table filled, keys sorted, unknown fields and fields of other task types dropped.

Choices where the spec is silent (all **[ours]**):

- A JSON ``null`` counts as an absent field: optional fields get their default, required ones are
  reported missing.
- Strings are echoed exactly as given (not stripped); "non-empty" means non-blank.
- ``style_prompt``, ``edit_style_prompt`` and ``negative_style_prompt`` are ≤ 1000 characters;
  ``lyrics`` and ``edit_lyrics`` ≤ 10 000.
- Numbers are JSON numbers only (no bools, no numeric strings, no NaN/infinity) and are echoed as
  given: ``30`` stays ``30``, ``30.0`` stays ``30.0``. Integer fields reject ``3.0``.
- ``audio2audio.duration`` has no default in the echo (the input's length is unknown until the worker
  decodes it); when given it must be 1–600 s: a restyle may be shorter than txt2audio's 10 s minimum.
- ``extend``: each side 0–600 s, left + right > 0 and ≤ 600 s; the total with the source audio is
  checked by the worker.
- ``edit_n_min < edit_n_max`` is checked only when both are given.
- [ext] fields are echoed only when given; ``output_format`` is lowercased. Its default (``mp3``) is
  not written into the echo, so a PiAPI request's echo is exactly the one in spec §4; read the
  effective format from ``CreateTaskCommand.output_format``. ``seed`` is 0 ≤ seed < 2**63,
  ``infer_steps`` 1–200, ``guidance_scale`` 0–30.
- ``config.webhook_config.endpoint`` is ``""`` or an absolute http(s) URL ≤ 2048 characters (whether
  its host may be reached is the webhook sender's check); ``secret`` is sent verbatim as an HTTP
  header, so it must be printable ASCII without surrounding spaces, ≤ 1024 characters.
- Inline audio (base64 or ``data:`` URI) is decoded here and moved to ``inline_audio``; the field in
  ``input`` holds ``inline_audio_placeholder(field)`` until the API stores the bytes and calls
  ``input_with_stored_audio``. A placeholder can never be mistaken for client input: ``:`` is neither
  base64 nor the start of a URL or data URI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, assert_never

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs_audio import InlineAudio, read_audio
from aceserve.domain.inputs_fields import (
    Number,
    format_number,
    read_choice,
    read_http_url,
    read_int,
    read_number,
    read_object,
    read_str,
    same_value,
    show,
)
from aceserve.domain.states import MODEL_NAME, TaskType

__all__ = [
    "DEFAULT_MAX_INLINE_AUDIO_BYTES",
    "DEFAULT_OUTPUT_FORMAT",
    "OUTPUT_FORMATS",
    "SERVICE_MODES",
    "CreateTaskCommand",
    "InlineAudio",
    "batch_hint",
    "generated_seconds_estimate",
    "inline_audio_placeholder",
    "input_with_stored_audio",
    "parse_create_request",
]

DEFAULT_MAX_INLINE_AUDIO_BYTES = 50 * 1024 * 1024
DEFAULT_LYRICS = "[inst]"
MAX_PROMPT_CHARS = 1000
MAX_LYRICS_CHARS = 10_000
TXT2AUDIO_SECONDS = (10, 600)
AUDIO2AUDIO_SECONDS = (1, 600)
MAX_EXTEND_SECONDS = 600
MAX_SEED = 2**63 - 1
MAX_INFER_STEPS = 200
MAX_GUIDANCE_SCALE = 30
OUTPUT_FORMATS = ("mp3", "wav", "flac")
DEFAULT_OUTPUT_FORMAT = "mp3"
SERVICE_MODES = ("", "public", "private")
MAX_WEBHOOK_SECRET_CHARS = 1024
_PLACEHOLDER_PREFIX = "inline-audio:"


@dataclass(frozen=True, repr=False)
class CreateTaskCommand:
    """A valid create request. ``input`` and ``config`` are the normalized echo; treat as read-only."""

    model: str
    task_type: TaskType
    input: dict[str, Any]
    config: dict[str, Any]
    inline_audio: dict[str, InlineAudio] = field(default_factory=dict)

    @property
    def output_format(self) -> str:
        return str(self.input.get("output_format", DEFAULT_OUTPUT_FORMAT))

    @property
    def seed(self) -> int | None:
        seed = self.input.get("seed")
        return seed if isinstance(seed, int) else None

    @property
    def service_mode(self) -> str:
        return str(self.config["service_mode"])

    @property
    def webhook_endpoint(self) -> str:
        return str(self.config["webhook_config"]["endpoint"])

    @property
    def webhook_secret(self) -> str:
        return str(self.config["webhook_config"]["secret"])

    def __repr__(self) -> str:  # keeps the webhook secret and audio bytes out of logs
        return (
            f"CreateTaskCommand(task_type={self.task_type.value!r}, input={self.input!r}, "
            f"service_mode={self.service_mode!r}, webhook_endpoint={self.webhook_endpoint!r}, "
            f"inline_audio={self.inline_audio!r})"
        )


def inline_audio_placeholder(field_name: str) -> str:
    """What ``input[field_name]`` holds while the field's inline audio is not yet stored."""
    return f"{_PLACEHOLDER_PREFIX}{field_name}"


def input_with_stored_audio(command: CreateTaskCommand, urls: Mapping[str, str]) -> dict[str, Any]:
    """The echo with each inline-audio placeholder replaced by its stored file's URL (by field name)."""
    missing = sorted(set(command.inline_audio) - set(urls))
    if missing:
        raise ValueError(f"no stored URL for inline audio field(s) {missing}")
    return {name: urls[name] if name in command.inline_audio else value for name, value in command.input.items()}


def parse_create_request(
    body: object, *, max_inline_audio_bytes: int = DEFAULT_MAX_INLINE_AUDIO_BYTES
) -> CreateTaskCommand:
    """Check a parsed create-task body; raise ``InvalidInput`` on the first rule it breaks."""
    if not isinstance(body, Mapping):
        raise InvalidInput("body", f"must be a JSON object; got {show(body)}")
    model = body.get("model")
    if model is None:
        raise InvalidInput("model", f"is required and must be {json.dumps(MODEL_NAME)}")
    if model != MODEL_NAME:
        raise InvalidInput("model", f"must be {json.dumps(MODEL_NAME)}; got {show(model)}")
    raw_task_type = body.get("task_type")
    if raw_task_type is None:
        raise InvalidInput("task_type", f"is required and must be one of {_listed(t.value for t in TaskType)}")
    task_type = TaskType(read_choice(raw_task_type, "task_type", [t.value for t in TaskType]))
    raw_input = body.get("input")
    if raw_input is None:
        raise InvalidInput("input", "is required and must be an object")
    fields = _Fields(read_object(raw_input, "input"), task_type, max_inline_audio_bytes)
    match task_type:
        case TaskType.TXT2AUDIO:
            _txt2audio(fields)
        case TaskType.AUDIO2AUDIO:
            _audio2audio(fields)
        case TaskType.EDIT:
            _edit(fields)
        case TaskType.EXTEND:
            _extend(fields)
        case _:
            assert_never(task_type)
    _extension_fields(fields)
    return CreateTaskCommand(
        model=MODEL_NAME,
        task_type=task_type,
        input=dict(sorted(fields.out.items())),
        config=_config(body.get("config")),
        inline_audio=fields.inline,
    )


def batch_hint(command: CreateTaskCommand) -> str | None:
    """Equal for tasks that could share one pipeline call, as far as is known at create time.

    txt2audio: ``txt2audio:<duration>:<infer_steps|default>:<guidance_scale|default>`` with numbers
    written so that ``30`` and ``30.0`` agree. Audio tasks: None (their lengths are unknown until the
    worker has the audio).
    """
    match command.task_type:
        case TaskType.TXT2AUDIO:
            steps, guidance = command.input.get("infer_steps"), command.input.get("guidance_scale")
            return ":".join(
                [
                    "txt2audio",
                    format_number(command.input["duration"]),
                    "default" if steps is None else format_number(steps),
                    "default" if guidance is None else format_number(guidance),
                ]
            )
        case TaskType.AUDIO2AUDIO | TaskType.EDIT | TaskType.EXTEND:
            return None
        case _:
            assert_never(command.task_type)


def generated_seconds_estimate(command: CreateTaskCommand) -> float | None:
    """Seconds of audio the task will generate, when known at create time; else None.

    A known value is exact or an upper bound, so freezing its cost never freezes too little.
    txt2audio: ``duration``. audio2audio: ``duration`` when given, else None (the input's length).
    edit: None (the output is as long as the input audio). extend: None, because the output is the
    source plus ``left + right`` and the source's length is unknown; ``left + right`` would be a lower
    bound only. For None, billing freezes its max-seconds fallback (600 s, the output limit).
    """
    match command.task_type:
        case TaskType.TXT2AUDIO | TaskType.AUDIO2AUDIO:
            duration = command.input.get("duration")
            return None if duration is None else float(duration)
        case TaskType.EDIT | TaskType.EXTEND:
            return None
        case _:
            assert_never(command.task_type)


class _Fields:
    """The raw ``input`` object of one task type, and the normalized echo being built from it."""

    def __init__(self, raw: Mapping[str, object], task_type: TaskType, max_audio_bytes: int) -> None:
        self.raw = raw
        self.task_type = task_type
        self.max_audio_bytes = max_audio_bytes
        self.out: dict[str, Any] = {}
        self.inline: dict[str, InlineAudio] = {}

    def given(self, name: str, alias: str | None = None) -> object | None:
        value = self.raw.get(name)
        if alias is None:
            return value
        alias_value = self.raw.get(alias)
        if value is not None and alias_value is not None and not same_value(value, alias_value):
            raise InvalidInput(
                f"input.{name}",
                f"and its alias `input.{alias}` must not both be given with different values; "
                f"got {show(value)} and {show(alias_value)}",
            )
        return alias_value if value is None else value

    def required(self, name: str) -> object:
        value = self.raw.get(name)
        if value is None:
            raise InvalidInput(f"input.{name}", f"is required for task_type {json.dumps(self.task_type.value)}")
        return value

    def prompt(self, name: str) -> None:
        """A required, non-blank prompt."""
        self.out[name] = read_str(self.required(name), f"input.{name}", max_chars=MAX_PROMPT_CHARS, non_empty=True)

    def text(self, name: str, *, default: str, max_chars: int, alias: str | None = None) -> None:
        value = self.given(name, alias)
        self.out[name] = default if value is None else read_str(value, f"input.{name}", max_chars=max_chars)

    def number(
        self,
        name: str,
        bounds: tuple[Number, Number],
        *,
        default: Number | None = None,
        unit: str = "",
        alias: str | None = None,
    ) -> Number | None:
        value = self.given(name, alias)
        if value is None:
            number = default
        else:
            number = read_number(value, f"input.{name}", minimum=bounds[0], maximum=bounds[1], unit=unit)
        if number is not None:
            self.out[name] = number
        return number

    def audio(self, name: str) -> None:
        audio = read_audio(self.required(name), f"input.{name}", max_bytes=self.max_audio_bytes)
        if isinstance(audio, InlineAudio):
            self.inline[name] = audio
            self.out[name] = inline_audio_placeholder(name)
        else:
            self.out[name] = audio


def _txt2audio(fields: _Fields) -> None:
    fields.prompt("style_prompt")
    fields.text("lyrics", default=DEFAULT_LYRICS, max_chars=MAX_LYRICS_CHARS)
    fields.text("negative_style_prompt", default="", max_chars=MAX_PROMPT_CHARS, alias="negative_prompt")
    fields.number("duration", TXT2AUDIO_SECONDS, default=30, unit="seconds")


def _audio2audio(fields: _Fields) -> None:
    fields.audio("style_audio")
    fields.prompt("style_prompt")
    fields.text("lyrics", default=DEFAULT_LYRICS, max_chars=MAX_LYRICS_CHARS)
    fields.text("negative_style_prompt", default="", max_chars=MAX_PROMPT_CHARS, alias="negative_prompt")
    fields.number("duration", AUDIO2AUDIO_SECONDS, unit="seconds")
    fields.number("audio_cover_strength", (0, 1))


def _edit(fields: _Fields) -> None:
    fields.audio("audio")
    fields.prompt("style_prompt")
    fields.text("lyrics", default=DEFAULT_LYRICS, max_chars=MAX_LYRICS_CHARS)
    fields.prompt("edit_style_prompt")
    fields.text("edit_lyrics", default=DEFAULT_LYRICS, max_chars=MAX_LYRICS_CHARS)
    n_min = fields.number("edit_n_min", (0, 1))
    n_max = fields.number("edit_n_max", (0, 1))
    if n_min is not None and n_max is not None and not n_min < n_max:
        raise InvalidInput(
            "input.edit_n_min",
            f"must be less than `input.edit_n_max`; got {format_number(n_min)} and {format_number(n_max)}",
        )


def _extend(fields: _Fields) -> None:
    fields.audio("audio")
    bounds = (0, MAX_EXTEND_SECONDS)
    left = fields.number("left_extend_duration", bounds, default=0, unit="seconds", alias="left_extend_length")
    right = fields.number("right_extend_duration", bounds, default=30, unit="seconds", alias="right_extend_length")
    assert left is not None and right is not None
    shown = f"got {format_number(left)} + {format_number(right)}"
    if left + right <= 0:
        raise InvalidInput(
            "input.left_extend_duration",
            f"plus `input.right_extend_duration` must be more than 0 seconds; {shown}",
        )
    if left + right > MAX_EXTEND_SECONDS:
        raise InvalidInput(
            "input.left_extend_duration",
            f"plus `input.right_extend_duration` must be at most {MAX_EXTEND_SECONDS} seconds; {shown}",
        )
    fields.prompt("style_prompt")
    fields.text("lyrics", default=DEFAULT_LYRICS, max_chars=MAX_LYRICS_CHARS)
    fields.text("negative_style_prompt", default="", max_chars=MAX_PROMPT_CHARS, alias="negative_prompt")


def _extension_fields(fields: _Fields) -> None:
    """[ext] fields of every task type, echoed only when given."""
    if (seed := fields.given("seed")) is not None:
        fields.out["seed"] = read_int(seed, "input.seed", minimum=0, maximum=MAX_SEED)
    if (steps := fields.given("infer_steps")) is not None:
        fields.out["infer_steps"] = read_int(steps, "input.infer_steps", minimum=1, maximum=MAX_INFER_STEPS)
    fields.number("guidance_scale", (0, MAX_GUIDANCE_SCALE))
    if (output_format := fields.given("output_format")) is not None:
        fields.out["output_format"] = read_choice(output_format, "input.output_format", OUTPUT_FORMATS, fold_case=True)


def _config(value: object) -> dict[str, Any]:
    raw = {} if value is None else read_object(value, "config")
    mode = raw.get("service_mode")
    service_mode = "" if mode is None else read_choice(mode, "config.service_mode", SERVICE_MODES)
    raw_webhook = raw.get("webhook_config")
    webhook = {} if raw_webhook is None else read_object(raw_webhook, "config.webhook_config")
    return {
        "service_mode": service_mode,
        "webhook_config": {
            "endpoint": _webhook_endpoint(webhook.get("endpoint")),
            "secret": _webhook_secret(webhook.get("secret")),
        },
    }


def _webhook_endpoint(value: object) -> str:
    path = "config.webhook_config.endpoint"
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidInput(path, f'must be a string: "" or an absolute http(s) URL; got {show(value)}')
    return read_http_url(value, path, what='must be "" or an absolute http(s) URL')


def _webhook_secret(value: object) -> str:
    path = "config.webhook_config.secret"
    if value is None:
        return ""
    secret = read_str(value, path, max_chars=MAX_WEBHOOK_SECRET_CHARS)
    if any(not " " <= ch <= "~" for ch in secret) or secret != secret.strip():
        raise InvalidInput(
            path, "must be printable ASCII without leading or trailing spaces (it is sent as an HTTP header)"
        )
    return secret


def _listed(values: Iterable[str]) -> str:
    return ", ".join(json.dumps(v) for v in values)
