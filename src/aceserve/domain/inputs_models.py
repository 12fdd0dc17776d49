"""The one definition of a task's input: a frozen, typed model per task type (spec §3.1).

Every field is declared here once, with ``field(...)``: its type, bounds, default, description,
aliases and whether the echo shows it always (PiAPI's fields, defaults filled) or only when given
([ext] fields). Everything else follows from these models:

- ``parse_create_request`` (``domain/inputs.py``) checks a request field by field against them, with
  messages that name the field, the rule and the value, and returns the model;
- the stored ``input`` of a task is the model's echo (``TaskInput.echo``);
- the worker loads the stored echo back with ``model_validate`` and maps it onto the engine's
  ``GenerationRequest`` by field name (``worker/request.py``);
- the OpenAPI request schemas are these models' JSON schemas (``CreateTaskBody``).

Adding a field: declare it on the task type's model (or on ``TaskInput`` for every task type), and
give ``engine.types.GenerationRequest`` a field of the same name when the engine uses it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticUndefined

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs_fields import MAX_URL_CHARS, format_number
from aceserve.domain.limits import MAX_OUTPUT_SECONDS
from aceserve.domain.states import MODEL_NAME, OutputFormat, TaskType

NON_BLANK = r"\S"
MAX_PROMPT_CHARS = 1000
MAX_LYRICS_CHARS = 10_000
DEFAULT_LYRICS = "[inst]"
MIN_DURATION_SECONDS = 1
DEFAULT_DURATION_SECONDS = 30
MAX_SEED = 2**63 - 1
MAX_INFER_STEPS = 200
MAX_GUIDANCE_SCALE = 30
DEFAULT_COVER_STRENGTH = 1.0
DEFAULT_EDIT_N_MIN = 0.6  # ACE-Step v1's "only lyrics" edit preset
DEFAULT_EDIT_N_MAX = 1.0
DEFAULT_RIGHT_EXTEND_SECONDS = 30
MAX_WEBHOOK_SECRET_CHARS = 1024

# An absolute http(s) URL with a host name or IPv4 address (the server also takes IPv6 literals), a
# port from 1 to 65535, and no spaces or control characters.
_URL_CHAR = r"[^\s\x00-\x1f\x7f]"
_PORT = r"(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
HTTP_URL_PATTERN = (
    rf"[Hh][Tt][Tt][Pp][Ss]?://(?:[^\s\x00-\x1f\x7f/?#@\[\]]+@)?[A-Za-z0-9][A-Za-z0-9.-]*(?::{_PORT})?"
    rf"(?:[/?#]{_URL_CHAR}*)?"
)
_DATA_URI_PATTERN = (
    r"[Dd][Aa][Tt][Aa]:(?:[Aa][Uu][Dd][Ii][Oo]/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*|application/octet-stream)"
    r"(?:;[^,;]*)*;[Bb][Aa][Ss][Ee]64,[\sA-Za-z0-9+/_-]*=*\s*"
)
_BASE64_PATTERN = r"\s*[A-Za-z0-9+/_-][\sA-Za-z0-9+/_-]*=*\s*"
AUDIO_SOURCE_PATTERN = f"^(?:{HTTP_URL_PATTERN}|{_DATA_URI_PATTERN}|{_BASE64_PATTERN})$"
# Printable ASCII without surrounding spaces: it is sent as an HTTP header.
HEADER_VALUE_PATTERN = r"^(?:[!-~](?:[ -~]*[!-~])?)?$"

Number = int | float
"""A JSON number: echoed as given (``30`` stays ``30``, ``30.0`` stays ``30.0``)."""

Echo = Literal["always", "given"]


# --- Field kinds that need more than a type and bounds ---------------------------------------------


@dataclass(frozen=True)
class AudioSourceKind:
    """An audio input: an http(s) URL, a ``data:`` URI or raw base64 (decoded at create)."""


@dataclass(frozen=True)
class WebhookUrlKind:
    """``""`` or an absolute http(s) URL."""


@dataclass(frozen=True)
class HeaderValueKind:
    """Printable ASCII without surrounding spaces (sent verbatim as an HTTP header)."""


@dataclass(frozen=True)
class EchoOnlyKind:
    """A field this task type does not use but echoes as its default; a given value is ignored."""


AUDIO_SOURCE = AudioSourceKind()
AudioSource = Annotated[str, AUDIO_SOURCE]


def field(
    default: Any = PydanticUndefined,
    *,
    description: str,
    echo: Echo = "always",
    aliases: Sequence[str] = (),
    unit: str = "",
    any_case: type[StrEnum] | None = None,
    schema_pattern: str | None = None,
    examples: Sequence[Any] | None = None,
    **constraints: Any,
) -> Any:
    """A field of a task input model: its description, bounds and default, and how it is read and echoed.

    ``echo="given"`` marks an [ext] field: the echo shows it only when the client gave it.
    ``aliases`` are other names accepted on input (the echo uses the field's name). ``unit`` words
    range messages ("between 1 and 600 seconds"). ``any_case`` accepts an enum value in any letter
    case and lowercases it. ``schema_pattern`` documents a rule that the field's reader checks
    (the value stored may then differ: an inline audio field holds its stored file's path).
    """
    extra: dict[str, Any] = {}
    notes = []
    if aliases:
        extra["x-aliases"] = list(aliases)
        notes.append("Alias on input: " + ", ".join(f"`{alias}`" for alias in aliases) + ".")
    if unit:
        extra["x-unit"] = unit
    if echo == "given":
        extra["x-echo"] = "when-given"
    if any_case is not None:
        blind = "|".join(
            "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in m) for m in any_case
        )
        extra["x-any-case"] = f"^(?:{blind})$"
    if schema_pattern is not None:
        extra["pattern"] = schema_pattern
    text = " ".join([description, *notes])
    return Field(
        default,
        description=text,
        json_schema_extra=extra or None,
        examples=list(examples) if examples is not None else None,
        **constraints,
    )


def field_extra(info: Any) -> dict[str, Any]:
    """The aceserve keys (``x-aliases``, ``x-echo`` …) of a model field."""
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


# --- JSON schema polish ----------------------------------------------------------------------------

_BOUND_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
_INT_OR_NUMBER = [{"type": "integer"}, {"type": "number"}]


_ANNOTATIONS = {"title", "description", "default", "examples"}


def _tidy_schema(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Make each property's schema say exactly what the parser takes, in plain JSON Schema.

    ``int | float`` becomes one ``number`` with ``minimum``/``maximum`` (pydantic writes a union with
    raw ``ge``/``le`` keys); a field that takes any letter case also matches a case-blind pattern;
    an optional field also takes ``null`` (the parser reads a null as an absent field).
    """
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        for node in [prop, *prop.get("anyOf", [])]:
            if node.get("anyOf") == _INT_OR_NUMBER:
                del node["anyOf"]
                node["type"] = "number"
            for raw, keyword in _BOUND_KEYWORDS.items():
                if raw in node:
                    node[keyword] = node.pop(raw)
        branches = prop.pop("anyOf", None)
        if branches is None:
            core = [key for key in prop if key not in _ANNOTATIONS and not key.startswith("x-")]
            branches = [{key: prop.pop(key) for key in core}]
        if any_case := prop.get("x-any-case"):
            branches.insert(1, {"type": "string", "pattern": any_case})
        if name not in required and {"type": "null"} not in branches:
            branches.append({"type": "null"})
        if len(branches) == 1:
            prop.update(branches[0])
        else:
            prop["anyOf"] = branches
    if issubclass(model, TaskInput) and "properties" in schema:  # the task type's own fields first
        common = set(TaskInput.model_fields)
        order = sorted(schema["properties"], key=lambda name: name in common)
        schema["properties"] = {name: schema["properties"][name] for name in order}


class WireModel(BaseModel):
    """Frozen, strict, unknown keys ignored (the parser names them in the task's logs)."""

    model_config = ConfigDict(frozen=True, strict=True, extra="ignore", json_schema_extra=_tidy_schema)


# --- Inputs per task type (spec §3.1) --------------------------------------------------------------


class TaskInput(WireModel):
    """Fields every task type takes ([ext]). A JSON null counts as an absent field."""

    task_type: ClassVar[TaskType]

    seed: int | None = field(
        None,
        ge=0,
        le=MAX_SEED,
        echo="given",
        description="[ext] 0 ≤ seed < 2^63; the same seed and inputs give the same audio; random when absent "
        "(the seed used is reported in `meta.seed`).",
    )
    infer_steps: int | None = field(
        None,
        ge=1,
        le=MAX_INFER_STEPS,
        echo="given",
        aliases=("infer_step",),
        description="[ext] Denoising steps; absent: the model variant's default (8 on turbo, 50 on base and sft).",
    )
    guidance_scale: Number | None = field(
        None,
        ge=0,
        le=MAX_GUIDANCE_SCALE,
        echo="given",
        description="[ext] Classifier-free guidance scale on base and sft (turbo has none); absent: the variant's "
        "default.",
    )
    output_format: OutputFormat = field(
        OutputFormat.MP3,
        echo="given",
        any_case=OutputFormat,
        description="[ext] Format of the output file, in any letter case.",
    )

    def echo(self) -> dict[str, Any]:
        """The normalized echo of spec §4: keys sorted, PiAPI's fields always (defaults filled), [ext]
        fields only when given. This is what a task stores as its ``input``."""
        shown = {
            name
            for name, info in type(self).model_fields.items()
            if name in self.model_fields_set or field_extra(info).get("x-echo") != "when-given"
        }
        return dict(sorted(self.model_dump(mode="json", include=shown).items()))

    def audio_fields(self) -> dict[str, str]:
        """The audio inputs (``style_audio``, ``audio``) that hold a source, by field name."""
        return {
            name: value
            for name, info in type(self).model_fields.items()
            if AUDIO_SOURCE in info.metadata and isinstance(value := getattr(self, name), str) and value
        }


StylePrompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS, pattern=NON_BLANK)]
Lyrics = Annotated[str, Field(max_length=MAX_LYRICS_CHARS)]
NegativePrompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]

_STYLE = f"Style of the music: genre, instruments, mood, tempo. Non-blank, ≤ {MAX_PROMPT_CHARS} characters."
_LYRICS = (
    "Plain text with section tags (`[verse]`, `[chorus]`, `[bridge]`, `[intro]`, `[outro]` …); `[inst]`, "
    f"`[instrumental]` or empty means instrumental. ≤ {MAX_LYRICS_CHARS} characters."
)
_NEGATIVE = f"Styles to steer away from (used where the model runs guidance). ≤ {MAX_PROMPT_CHARS} characters."
_AUDIO = (
    "Audio as an http(s) URL (≤ 2048 characters; fetched by the worker), a `data:audio/…;base64,…` URI or raw "
    "base64 (standard or URL-safe). Inline audio must decode to audio (any format ffmpeg reads, ≤ 600 s) of at "
    "most `max_input_audio_bytes` (50 MiB by default) and is echoed as the URL of its stored copy."
)


class Txt2AudioInput(TaskInput):
    """`input` of a `txt2audio` task: music from a style prompt and lyrics."""

    task_type: ClassVar[TaskType] = TaskType.TXT2AUDIO

    style_prompt: StylePrompt = field(description=_STYLE, examples=["upbeat synth-pop, female vocals, 120 bpm"])
    lyrics: Lyrics = field(DEFAULT_LYRICS, description=_LYRICS)
    negative_style_prompt: NegativePrompt = field("", aliases=("negative_prompt",), description=_NEGATIVE)
    duration: Number = field(
        DEFAULT_DURATION_SECONDS,
        ge=MIN_DURATION_SECONDS,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        description="Seconds of audio to generate. Below the model's minimum (10 s) the minimum is generated and "
        "cut to exactly this length.",
    )
    style_audio: Annotated[str, EchoOnlyKind()] = field(
        "",
        description='Not used by txt2audio; always echoed as `""` (as PiAPI does). A non-empty value is ignored '
        "and named in the task's `logs`.",
    )


class Audio2AudioInput(TaskInput):
    """`input` of an `audio2audio` task: restyle existing audio."""

    task_type: ClassVar[TaskType] = TaskType.AUDIO2AUDIO

    style_audio: AudioSource = field(
        min_length=1, schema_pattern=AUDIO_SOURCE_PATTERN, description="The audio to restyle. " + _AUDIO
    )
    style_prompt: StylePrompt = field(description="The style wanted. " + _STYLE)
    lyrics: Lyrics = field(DEFAULT_LYRICS, description=_LYRICS)
    negative_style_prompt: NegativePrompt = field("", aliases=("negative_prompt",), description=_NEGATIVE)
    duration: Number | None = field(
        None,
        ge=MIN_DURATION_SECONDS,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        echo="given",
        description="Seconds of output: the input is cropped or looped to it. Default: the input audio's length, "
        "echoed once known (at create for inline, uploaded and this server's files; when the worker has fetched "
        "a URL otherwise).",
    )
    audio_cover_strength: Number = field(
        DEFAULT_COVER_STRENGTH,
        ge=0,
        le=1,
        echo="given",
        description="[ext] How closely the output follows the input audio, 0–1; below 1 the text prompt's own "
        "rendering is blended in.",
    )


class EditInput(TaskInput):
    """`input` of an `edit` task: change the style or lyrics of existing audio (FlowEdit)."""

    task_type: ClassVar[TaskType] = TaskType.EDIT

    audio: AudioSource = field(
        min_length=1, schema_pattern=AUDIO_SOURCE_PATTERN, description="The audio to edit. " + _AUDIO
    )
    style_prompt: StylePrompt = field(description="Describes the input audio. " + _STYLE)
    lyrics: Lyrics = field(DEFAULT_LYRICS, description="Lyrics of the input audio. " + _LYRICS)
    edit_style_prompt: StylePrompt = field(description="The style wanted. " + _STYLE)
    edit_lyrics: Lyrics = field(DEFAULT_LYRICS, description="The lyrics wanted. " + _LYRICS)
    edit_n_min: Number = field(
        DEFAULT_EDIT_N_MIN,
        ge=0,
        le=1,
        echo="given",
        description="[ext] Start of the edit window as a fraction of the steps, 0–1, less than `edit_n_max`; "
        "lower edits harder (0.2 with `edit_n_max` 0.4 changes the style).",
    )
    edit_n_max: Number = field(
        DEFAULT_EDIT_N_MAX, ge=0, le=1, echo="given", description="[ext] End of the edit window, 0–1."
    )

    @model_validator(mode="after")
    def _window_is_not_empty(self) -> EditInput:
        if not self.edit_n_min < self.edit_n_max:
            defaulted = [name for name in ("edit_n_min", "edit_n_max") if name not in self.model_fields_set]
            note = "".join(f" (`input.{name}` was not given: its default)" for name in defaulted)
            raise InvalidInput(
                "input.edit_n_min",
                f"must be less than `input.edit_n_max`; got {format_number(self.edit_n_min)} and "
                f"{format_number(self.edit_n_max)}{note}",
            )
        return self


class ExtendInput(TaskInput):
    """`input` of an `extend` task: add music before and/or after existing audio.

    `left_extend_duration + right_extend_duration` must be more than 0 and at most 600 s, and the whole
    output (the source plus both extensions) at most 600 s.
    """

    task_type: ClassVar[TaskType] = TaskType.EXTEND

    audio: AudioSource = field(
        min_length=1,
        schema_pattern=AUDIO_SOURCE_PATTERN,
        description="The audio to extend; its samples are kept exactly. " + _AUDIO,
    )
    left_extend_duration: Number = field(
        0,
        ge=0,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        aliases=("left_extend_length",),
        description="Seconds added before the audio.",
    )
    right_extend_duration: Number = field(
        DEFAULT_RIGHT_EXTEND_SECONDS,
        ge=0,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        aliases=("right_extend_length",),
        description="Seconds added after the audio.",
    )
    style_prompt: StylePrompt = field(description="Style of the extension. " + _STYLE)
    lyrics: Lyrics = field(DEFAULT_LYRICS, description=_LYRICS)
    negative_style_prompt: NegativePrompt = field("", aliases=("negative_prompt",), description=_NEGATIVE)

    @model_validator(mode="after")
    def _extends_by_something_within_the_limit(self) -> ExtendInput:
        left, right = self.left_extend_duration, self.right_extend_duration
        shown = f"got {format_number(left)} + {format_number(right)}"
        if left + right <= 0:
            raise InvalidInput(
                "input.left_extend_duration", f"plus `input.right_extend_duration` must be more than 0 seconds; {shown}"
            )
        if left + right > MAX_OUTPUT_SECONDS:
            raise InvalidInput(
                "input.left_extend_duration",
                f"plus `input.right_extend_duration` must be at most {format_number(MAX_OUTPUT_SECONDS)} seconds; "
                f"{shown}",
            )
        return self


INPUT_MODELS: dict[TaskType, type[TaskInput]] = {
    model.task_type: model for model in (Txt2AudioInput, Audio2AudioInput, EditInput, ExtendInput)
}
AnyTaskInput = Txt2AudioInput | Audio2AudioInput | EditInput | ExtendInput
AUDIO_FIELDS = frozenset(
    name
    for model in INPUT_MODELS.values()
    for name, info in model.model_fields.items()
    if AUDIO_SOURCE in info.metadata
)
"""Names of the audio input fields of any task type (``style_audio``, ``audio``)."""


def load_input(task_type: TaskType | str, stored: dict[str, Any]) -> TaskInput:
    """A task's stored echo back as its typed model (the worker's view of the task)."""
    return INPUT_MODELS[TaskType(task_type)].model_validate(stored, strict=False)


# --- The rest of the create body (spec §3) ----------------------------------------------------------


class ServiceMode(StrEnum):
    """PiAPI's pool choice; echoed back, no other effect here."""

    DEFAULT = ""
    PUBLIC = "public"
    PRIVATE = "private"


class WebhookConfig(WireModel):
    endpoint: Annotated[str, WebhookUrlKind()] = field(
        "",
        max_length=MAX_URL_CHARS,
        schema_pattern=f"^(?:{HTTP_URL_PATTERN})?$",
        description='`""` (no webhooks) or an absolute http(s) URL that receives the task on every status change. '
        "Public addresses only: a private IP literal or `localhost` is refused unless the server allows it.",
        examples=["https://example.com/hooks/ace-step"],
    )
    secret: Annotated[str, HeaderValueKind()] = field(
        "",
        max_length=MAX_WEBHOOK_SECRET_CHARS,
        pattern=HEADER_VALUE_PATTERN,
        description="Sent verbatim in the `x-webhook-secret` header: printable ASCII, no surrounding spaces.",
        examples=["my-webhook-secret"],
    )


class TaskConfig(WireModel):
    service_mode: ServiceMode = field(ServiceMode.DEFAULT, description="Echoed back; no other effect here.")
    webhook_config: WebhookConfig = Field(default_factory=WebhookConfig)


class _CreateBody(WireModel):
    model: Literal["Qubico/ace-step"] = Field(description=f"Always `{MODEL_NAME}`.")
    config: TaskConfig | None = Field(None, description="Optional; defaults as shown.")


class CreateTxt2Audio(_CreateBody):
    """Create a `txt2audio` task."""

    task_type: Literal[TaskType.TXT2AUDIO]
    input: Txt2AudioInput


class CreateAudio2Audio(_CreateBody):
    """Create an `audio2audio` task."""

    task_type: Literal[TaskType.AUDIO2AUDIO]
    input: Audio2AudioInput


class CreateEdit(_CreateBody):
    """Create an `edit` task."""

    task_type: Literal[TaskType.EDIT]
    input: EditInput


class CreateExtend(_CreateBody):
    """Create an `extend` task."""

    task_type: Literal[TaskType.EXTEND]
    input: ExtendInput


CreateTaskBody = Annotated[
    CreateTxt2Audio | CreateAudio2Audio | CreateEdit | CreateExtend,
    Field(discriminator="task_type"),
]
"""Body of ``POST /api/v1/task``: ``input`` is the model of ``task_type``. Unknown fields are accepted and
named in the task's ``logs``."""
