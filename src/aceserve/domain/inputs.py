"""Reading a create-task request body (spec §3) into its typed model, independent of HTTP.

``parse_create_request(body)`` takes the parsed JSON and returns a ``CreateTaskCommand`` holding the
task type's model (``domain/inputs_models.py``), or raises ``InvalidInput`` (HTTP 400) whose message
names the full field path and the rule and shows the value. The fields, their bounds, defaults and
aliases are the models'; this module walks them generically.

Choices where the spec is silent (all **[ours]**):

- A JSON ``null`` counts as an absent field: optional fields get their default, required ones are
  reported missing.
- Strings are echoed exactly as given (not stripped); "non-empty" means non-blank.
- Numbers are JSON numbers only (no bools, no numeric strings, no NaN/infinity) and are echoed as
  given: ``30`` stays ``30``, ``30.0`` stays ``30.0``. Integer fields take ``3.0`` as ``3``, as JSON
  Schema does, and refuse ``3.5``.
- A field and its alias may both be given only with equal values.
- Unknown fields, in ``input`` or at the top level, are accepted and each is named, with the closest
  known field, in ``CreateTaskCommand.notes`` (the task's ``logs``); fields of another task type are
  ignored the same way.
- Inline audio (base64 or ``data:`` URI) is decoded here and moved to ``inline_audio``; the field in
  ``input`` holds ``inline_audio_placeholder(field)`` until the store has the bytes and the field is
  replaced by the stored file's path. A placeholder can never be mistaken for client input: ``:``
  is neither base64 nor the start of a URL or data URI.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar, assert_never, get_args, get_origin

from annotated_types import Ge, Le, MaxLen
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs_audio import InlineAudio, read_audio
from aceserve.domain.inputs_body import TaskConfig
from aceserve.domain.inputs_fields import (
    format_number,
    read_choice,
    read_http_url,
    read_int,
    read_member,
    read_number,
    read_object,
    read_str,
    same_value,
    show,
)
from aceserve.domain.inputs_models import INPUT_MODELS, TaskInput
from aceserve.domain.inputs_schema import (
    AUDIO_SOURCE,
    EchoOnlyKind,
    HeaderValueKind,
    Number,
    TextKind,
    WebhookUrlKind,
    field_extra,
)
from aceserve.domain.states import MODEL_NAME, OutputFormat, TaskType
from aceserve.domain.text import storable_text, text_problem

__all__ = [
    "DEFAULT_MAX_INLINE_AUDIO_BYTES",
    "CreateTaskCommand",
    "InlineAudio",
    "batch_hint",
    "inline_audio_placeholder",
    "parse_create_request",
]

DEFAULT_MAX_INLINE_AUDIO_BYTES = 50 * 1024 * 1024
TOP_LEVEL_FIELDS = ("model", "task_type", "input", "config")
_PLACEHOLDER_PREFIX = "inline-audio:"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, repr=False)
class CreateTaskCommand:
    """A valid create request: the task type's input model and the config, both frozen."""

    model: str
    task_type: TaskType
    input: TaskInput
    config: TaskConfig = field(default_factory=TaskConfig)
    inline_audio: dict[str, InlineAudio] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Lines for the task's ``logs``: fields that were given but ignored, with the closest known one."""

    @property
    def echo(self) -> dict[str, Any]:
        """The normalized ``input`` echo (spec §4)."""
        return self.input.echo()

    @property
    def config_echo(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    @property
    def output_format(self) -> OutputFormat:
        return self.input.output_format

    @property
    def seed(self) -> int | None:
        return self.input.seed

    @property
    def service_mode(self) -> str:
        return self.config.service_mode.value

    @property
    def webhook_endpoint(self) -> str:
        return self.config.webhook_config.endpoint

    @property
    def webhook_secret(self) -> str:
        return self.config.webhook_config.secret

    @property
    def quick(self) -> bool:
        """Its create is one short transaction of prepared statements: no audio to probe, fetch or store
        (which may take seconds), no webhook event to write (``api.reads.Creates``, ``store.submit``)."""
        return not self.inline_audio and not self.input.audio_fields() and not self.webhook_endpoint

    def __repr__(self) -> str:  # keeps the webhook secret and audio bytes out of logs
        return (
            f"CreateTaskCommand(task_type={self.task_type.value!r}, input={self.echo!r}, "
            f"service_mode={self.service_mode!r}, webhook_endpoint={self.webhook_endpoint!r}, "
            f"inline_audio={self.inline_audio!r})"
        )


def inline_audio_placeholder(field_name: str) -> str:
    """What an audio field holds while the field's inline audio is not yet stored."""
    return f"{_PLACEHOLDER_PREFIX}{field_name}"


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
    reader = _Reader(task_type, max_inline_audio_bytes)
    input_model = INPUT_MODELS[task_type]
    task_input = reader.model(input_model, read_object(raw_input, "input"), "input")
    raw_config = body.get("config")
    config = (
        TaskConfig() if raw_config is None else reader.model(TaskConfig, read_object(raw_config, "config"), "config")
    )
    input_names = [f"input.{name}" for name in _names(input_model)]
    reader.unknown(body, "", TOP_LEVEL_FIELDS, scope="the request's top level", also=input_names)
    return CreateTaskCommand(
        model=MODEL_NAME,
        task_type=task_type,
        input=task_input,
        config=config,
        inline_audio=reader.inline,
        notes=tuple(storable_text(note) for note in reader.notes),  # a field's name may hold anything
    )


def batch_hint(command: CreateTaskCommand) -> str | None:
    """Equal for tasks that could share one pipeline call, as far as is known at create time.

    txt2audio: ``txt2audio:<duration>:<infer_steps|default>:<guidance_scale|default>`` with numbers
    written so that ``30`` and ``30.0`` agree. Audio tasks: None (their lengths are unknown until the
    worker has the audio).
    """
    task_input = command.input
    match command.task_type:
        case TaskType.TXT2AUDIO:
            duration = getattr(task_input, "duration", 0)
            steps, guidance = task_input.infer_steps, task_input.guidance_scale
            return ":".join(
                [
                    "txt2audio",
                    format_number(duration),
                    "default" if steps is None else format_number(steps),
                    "default" if guidance is None else format_number(guidance),
                ]
            )
        case TaskType.AUDIO2AUDIO | TaskType.EDIT | TaskType.EXTEND:
            return None
        case _:
            assert_never(command.task_type)


class _Reader:
    """Reads raw JSON objects into models, collecting inline audio and notes about ignored fields."""

    def __init__(self, task_type: TaskType, max_audio_bytes: int) -> None:
        self.task_type = task_type
        self.max_audio_bytes = max_audio_bytes
        self.inline: dict[str, InlineAudio] = {}
        self.notes: list[str] = []

    def model(self, model: type[M], raw: Mapping[str, object], path: str) -> M:
        values: dict[str, Any] = {}
        for name, info in _fields(model):
            value = self._given(raw, name, info, path)
            if value is None:
                if info.is_required():
                    raise InvalidInput(
                        f"{path}.{name}", f"is required for task_type {json.dumps(self.task_type.value)}"
                    )
                continue
            values[name] = self._value(info, value, f"{path}.{name}")
        scope = self.task_type.value if path == "input" else f"`{path}`"
        self.unknown(raw, f"{path}.", _names(model), scope=scope)
        try:
            return model.model_validate(values)
        except ValidationError as exc:  # a rule only the model knows: still a 400 naming the field
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
            raise InvalidInput(f"{path}.{where}" if where else path, error["msg"].lower()) from None

    def unknown(
        self, raw: Mapping[str, object], prefix: str, known: Iterable[str], *, scope: str, also: Iterable[str] = ()
    ) -> None:
        """Name each given field that is not one of ``known``, with the closest known field."""
        known = list(known)
        candidates = [f"{prefix}{name}" for name in known] + list(also)
        for name in raw:
            if name in known or raw[name] is None:
                continue
            where = f"{prefix}{name}"
            note = f"`{where}` is not a field of {scope} and was ignored"
            other = [t.value for t, m in INPUT_MODELS.items() if t is not self.task_type and name in _names(m)]
            if prefix == "input." and other:
                note += f" (it is a field of {', '.join(other)})"
            close = difflib.get_close_matches(where, candidates, n=1, cutoff=0.75)
            self.notes.append(f"{note}; did you mean `{close[0]}`?" if close else f"{note}.")

    def _given(self, raw: Mapping[str, object], name: str, info: FieldInfo, path: str) -> object | None:
        value = raw.get(name)
        for alias in field_extra(info).get("x-aliases", []):
            alias_value = raw.get(alias)
            if value is not None and alias_value is not None and not same_value(value, alias_value):
                raise InvalidInput(
                    f"{path}.{name}",
                    f"and its alias `{path}.{alias}` must not both be given with different values; "
                    f"got {show(value)} and {show(alias_value)}",
                )
            if value is None:
                value = alias_value
        return value

    def _value(self, info: FieldInfo, value: object, path: str) -> Any:
        """``value`` checked against the field's type and bounds; returned as the model stores it."""
        kind = _without_none(info.annotation)
        metadata = info.metadata
        if AUDIO_SOURCE in metadata:
            audio = read_audio(value, path, max_bytes=self.max_audio_bytes)
            if isinstance(audio, str):
                return audio
            name = path.rsplit(".", 1)[-1]
            self.inline[name] = audio
            return inline_audio_placeholder(name)
        if _has(metadata, WebhookUrlKind):
            return _webhook_endpoint(value, path)
        if _has(metadata, HeaderValueKind):
            return _header_value(value, path, _bound(metadata, MaxLen))
        if _has(metadata, EchoOnlyKind):
            read_str(value, path, max_chars=_bound(metadata, MaxLen, default=1_000_000))
            if value:
                self.notes.append(f"`{path}` is not used by {self.task_type.value} tasks and was ignored.")
            return info.get_default(call_default_factory=True)
        if kind is str:
            metadata = _metadata(info)
            text_rule = next((item for item in metadata if isinstance(item, TextKind)), None)
            text = read_str(
                value,
                path,
                max_chars=_bound(metadata, MaxLen, default=1_000_000),
                non_empty=text_rule is not None and text_rule.non_blank,
            )
            problem = None if text_rule is None else text_problem(text)
            if problem is not None:
                raise InvalidInput(path, problem)
            if rule := field_extra(info).get("x-rule"):
                pattern = next(m.pattern for m in metadata if getattr(m, "pattern", None) is not None)
                if not re.fullmatch(pattern, text):
                    raise InvalidInput(path, f"must be {rule}; got {show(text)}")
            return text
        if kind is bool:
            if not isinstance(value, bool):
                raise InvalidInput(path, f"must be true or false; got {show(value)}")
            return value
        if get_origin(kind) is Literal:
            return read_member(value, path, get_args(kind))
        if kind is int:
            return read_int(value, path, minimum=_bound(metadata, Ge), maximum=_bound(metadata, Le))
        if kind == Number:
            unit = str(field_extra(info).get("x-unit", ""))
            return read_number(value, path, minimum=_bound(metadata, Ge), maximum=_bound(metadata, Le), unit=unit)
        if isinstance(kind, type) and issubclass(kind, StrEnum):
            choice = read_choice(
                value, path, [member.value for member in kind], fold_case="x-any-case" in field_extra(info)
            )
            return kind(choice)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return self.model(kind, read_object(value, path), path)
        raise TypeError(f"no reader for the field {path} of type {kind!r}")  # pragma: no cover - a new kind


@functools.cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, FieldInfo], ...]:
    """A model's fields, read once (each read of ``model_fields`` goes through a pydantic descriptor)."""
    return tuple(model.model_fields.items())


@functools.cache
def _names(model: type[BaseModel]) -> tuple[str, ...]:
    """A model's field names and their aliases."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names += [name, *field_extra(info).get("x-aliases", [])]
    return tuple(names)


def _without_none(annotation: Any) -> Any:
    args = [get_args(arg)[0] if get_origin(arg) is Annotated else arg for arg in get_args(annotation)]
    args = [arg for arg in args if arg is not type(None)]
    if not args or len(args) == len(get_args(annotation)):
        return annotation
    return args[0] if len(args) == 1 else args[0] | args[1] if len(args) == 2 else annotation


def _metadata(info: FieldInfo) -> list[Any]:
    """A field's constraints and markers, also those of an optional field's ``Annotated`` type."""
    found = list(info.metadata)
    for arg in get_args(info.annotation):
        for item in getattr(arg, "__metadata__", ()):
            found += item.metadata if isinstance(item, FieldInfo) else [item]
    return found


def _has(metadata: list[Any], kind: type) -> bool:
    return any(isinstance(item, kind) for item in metadata)


def _bound(metadata: list[Any], kind: type[Ge] | type[Le] | type[MaxLen], default: Any = None) -> Any:
    for item in metadata:
        if isinstance(item, kind):
            return getattr(item, {Ge: "ge", Le: "le", MaxLen: "max_length"}[kind])
    if default is None:
        raise TypeError(f"the field has no {kind.__name__} bound")  # pragma: no cover - a declaration bug
    return default


def _webhook_endpoint(value: object, path: str) -> str:
    if value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidInput(path, f'must be a string: "" or an absolute http(s) URL; got {show(value)}')
    return read_http_url(value, path, what='must be "" or an absolute http(s) URL')


def _header_value(value: object, path: str, max_chars: int) -> str:
    secret = read_str(value, path, max_chars=max_chars)
    if any(not " " <= ch <= "~" for ch in secret) or secret != secret.strip():
        raise InvalidInput(
            path, "must be printable ASCII without leading or trailing spaces (it is sent as an HTTP header)"
        )
    return secret


def _listed(values: Iterable[str]) -> str:
    return ", ".join(json.dumps(v) for v in values)
