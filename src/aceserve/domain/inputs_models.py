"""The one definition of a task's input: a frozen, typed model per task type (spec §3.1).

Every field is declared here once, with ``field(...)`` (``domain/inputs_schema.py``): its type, bounds,
default, description, aliases and whether the echo shows it always (PiAPI's fields, defaults filled)
or only when given ([ext] fields). Everything else follows from these models:

- ``parse_create_request`` (``domain/inputs.py``) checks a request field by field against them, with
  messages that name the field, the rule and the value, and returns the model;
- the stored ``input`` of a task is the model's echo (``TaskInput.echo``);
- the worker loads the stored echo back with ``model_validate`` and maps it onto the engine's
  ``GenerationRequest`` by field name (``worker/request.py``);
- the OpenAPI request schemas are these models' JSON schemas (``CreateTaskBody`` in
  ``domain/inputs_body.py`` puts them in the create body beside the config).

Adding a field: declare it on the task type's model (or on ``TaskInput`` for every task type), and
give ``engine.types.GenerationRequest`` a field of the same name when the engine uses it.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, ClassVar

from pydantic import Field, ValidationError, model_validator

from aceserve.domain.errors import InvalidInput, TaskInputError
from aceserve.domain.inputs_fields import format_number
from aceserve.domain.inputs_schema import (
    AUDIO_SOURCE,
    AUDIO_SOURCE_PATTERN,
    NON_BLANK_TEXT,
    TEXT,
    AudioSource,
    EchoOnlyKind,
    Number,
    WireModel,
    field,
    field_extra,
)
from aceserve.domain.limits import MAX_OUTPUT_SECONDS
from aceserve.domain.music import (
    KEY_SCALE_PATTERN,
    KEY_SCALE_RULE,
    MAX_BPM,
    MIN_BPM,
    VOCAL_LANGUAGE_PATTERN,
    VOCAL_LANGUAGE_RULE,
    TimeSignature,
)
from aceserve.domain.states import OutputFormat, TaskType

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
DEFAULT_COVER_NOISE_STRENGTH = 0.0
DEFAULT_EDIT_N_AVG = 1
MAX_EDIT_N_AVG = 8
MAX_ADAPTER_NAME_CHARS = 64
DEFAULT_LORA_SCALE = 1.0
MAX_LORA_SCALE = 2.0
LATENT_FRAME_SECONDS = 1920 / 48_000  # one latent frame of ACE-Step 1.5's VAE (hop 1920 at 48 kHz): 0.04 s
MAX_LM_TEMPERATURE = 2
MAX_LM_CFG_SCALE = 10
MAX_LM_TOP_K = 1000

# --- Inputs per task type (spec §3.1) --------------------------------------------------------------

_MUSIC_FIELDS = ("bpm", "key_scale", "time_signature", "vocal_language")
_PLANNER_FIELDS = ("thinking", "lm_temperature", "lm_cfg_scale", "lm_top_p", "lm_top_k")


class TaskInput(WireModel):
    """Fields every task type takes ([ext]). A JSON null counts as an absent field."""

    task_type: ClassVar[TaskType]
    shown_last: ClassVar[frozenset[str]] = frozenset(
        {
            "seed",
            "infer_steps",
            "guidance_scale",
            "output_format",
            "lora",
            "lora_scale",
            *_MUSIC_FIELDS,
            *_PLANNER_FIELDS,
        }
    )

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
        description="[ext] Denoising steps on base and sft (absent: 32). Turbo always runs its distilled 8-step "
        "schedule: a value given there is ignored and named in the task's `logs`.",
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
    lora: str = field(
        "",
        max_length=MAX_ADAPTER_NAME_CHARS,
        echo="given",
        description="[ext] Name of a LoRA or LoKr adapter the server loaded at start (`--lora NAME=PATH`; "
        "`/health` lists them); absent or empty: the base model. An unknown name is refused.",
    )
    lora_scale: Number = field(
        DEFAULT_LORA_SCALE,
        ge=0,
        le=MAX_LORA_SCALE,
        echo="given",
        description="[ext] Strength of `lora`, 0–2 (1: as trained; 0: the base model).",
    )
    # Musical metadata: conditions the DiT as ACE-Step 1.5 writes it; the planner fills what is absent.
    bpm: int | None = field(
        None,
        ge=MIN_BPM,
        le=MAX_BPM,
        echo="given",
        description="[ext] Tempo in beats per minute, 30–300. Absent: the planner's (txt2audio with an LM), "
        "else `N/A`.",
    )
    key_scale: str | None = field(
        None,
        pattern=KEY_SCALE_PATTERN,
        rule=KEY_SCALE_RULE,
        echo="given",
        description='[ext] Key, e.g. "C major", "F# minor", "B♭ major". Absent: the planner\'s, else `N/A`.',
    )
    time_signature: TimeSignature | None = field(
        None,
        echo="given",
        description="[ext] Beats per bar: 2 (2/4), 3 (3/4), 4 (4/4) or 6 (6/8). Absent: the planner's, else `N/A`.",
    )
    vocal_language: str | None = field(
        None,
        pattern=VOCAL_LANGUAGE_PATTERN,
        rule=VOCAL_LANGUAGE_RULE,
        echo="given",
        description="[ext] Language the lyrics are sung in (ISO 639 code from ACE-Step 1.5's list, or `unknown`). "
        "Absent: the planner's, else `unknown`.",
    )
    # The 5 Hz language-model planner ("thinking"); txt2audio only.
    thinking: bool | None = field(
        None,
        echo="given",
        description="[ext] Run the 5 Hz LM planner before the DiT (txt2audio): it fills missing metadata, "
        "rewrites the caption and writes 5 Hz audio codes the DiT renders from. Absent: on when the server has "
        "an LM loaded. Other task types ignore it.",
    )
    lm_temperature: Number | None = field(
        None,
        ge=0,
        le=MAX_LM_TEMPERATURE,
        echo="given",
        description="[ext] The planner's sampling temperature, 0–2 (0: always the likeliest token); absent: 0.85.",
    )
    lm_cfg_scale: Number | None = field(
        None,
        ge=1,
        le=MAX_LM_CFG_SCALE,
        echo="given",
        description="[ext] The planner's classifier-free guidance scale, 1–10 (1: none); absent: 2.",
    )
    lm_top_p: Number | None = field(
        None,
        ge=0,
        le=1,
        echo="given",
        description="[ext] The planner's nucleus sampling threshold, 0–1 (0 or 1: off); absent: 0.9.",
    )
    lm_top_k: int | None = field(
        None,
        ge=0,
        le=MAX_LM_TOP_K,
        echo="given",
        description="[ext] The planner's top-k sampling, 0–1000 (0: off); absent: off.",
    )

    def echo(self) -> dict[str, Any]:
        """The normalized echo of spec §4: keys sorted, PiAPI's fields always (defaults filled), [ext]
        fields only when given. This is what a task stores as its ``input``."""
        shown = set(_always_echoed(type(self)) | self.model_fields_set)
        return dict(sorted(self.model_dump(mode="json", include=shown).items()))

    def audio_fields(self) -> dict[str, str]:
        """The audio inputs (``style_audio``, ``audio``) that hold a source, by field name."""
        return {
            name: value
            for name in _audio_field_names(type(self))
            if isinstance(value := getattr(self, name), str) and value
        }


@functools.cache
def _audio_field_names(model: type[TaskInput]) -> tuple[str, ...]:
    return tuple(name for name, info in model.model_fields.items() if AUDIO_SOURCE in info.metadata)


@functools.cache
def _always_echoed(model: type[TaskInput]) -> frozenset[str]:
    return frozenset(
        name for name, info in model.model_fields.items() if field_extra(info).get("x-echo") != "when-given"
    )


StylePrompt = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS), NON_BLANK_TEXT]
Lyrics = Annotated[str, Field(max_length=MAX_LYRICS_CHARS), TEXT]
NegativePrompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS), TEXT]
Description = Annotated[str, Field(min_length=1, max_length=MAX_PROMPT_CHARS), NON_BLANK_TEXT]

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
    description: Description | None = field(
        None,
        echo="given",
        description='[ext] A song described in words (e.g. "a melancholic indie song about leaving home"): the '
        "planner writes the caption and lyrics first (`meta.plan` reports them) and then plans the song. Needs a "
        f"server with an LM. Non-blank, ≤ {MAX_PROMPT_CHARS} characters.",
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
        description="[ext] Fraction of the steps that follow the input audio's semantic codes, 0–1 (as ACE-Step "
        "1.5: after `int(steps × strength)` steps the rest run as text2music from silence).",
    )
    cover_noise_strength: Number = field(
        DEFAULT_COVER_NOISE_STRENGTH,
        ge=0,
        le=1,
        echo="given",
        description="[ext] Start from the input audio noised instead of pure noise, 0–1: 0 is pure noise, closer "
        "to 1 keeps more of the input (the schedule starts at the step nearest noise level `1 - strength`).",
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
    edit_n_avg: int = field(
        DEFAULT_EDIT_N_AVG,
        ge=1,
        le=MAX_EDIT_N_AVG,
        echo="given",
        description=f"[ext] FlowEdit velocity samples averaged per step, 1–{MAX_EDIT_N_AVG} (more: smoother, slower).",
    )
    repaint_start: Number | None = field(
        None,
        ge=0,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        echo="given",
        description="[ext] Section repaint: regenerate only `repaint_start`..`repaint_end` of the audio under "
        "`edit_style_prompt` and `edit_lyrics`, keeping every sample outside it. Absent with `repaint_end` given: 0.",
    )
    repaint_end: Number | None = field(
        None,
        ge=0,
        le=MAX_OUTPUT_SECONDS,
        unit="seconds",
        echo="given",
        description="[ext] End of the section to repaint, within the audio and at least one latent frame (0.04 s) "
        "after `repaint_start`. Absent with `repaint_start` given: the end of the audio.",
    )

    @property
    def repaints(self) -> bool:
        return self.repaint_start is not None or self.repaint_end is not None

    def check_repaint_span(self, audio_seconds: float) -> None:
        """The repaint span must lie within the input audio (known once it is decoded or probed)."""
        if not self.repaints:
            return
        start = self.repaint_start or 0
        end = audio_seconds if self.repaint_end is None else self.repaint_end
        if end > audio_seconds + 1e-9:
            raise InvalidInput(
                "input.repaint_end",
                f"must be within the input audio ({audio_seconds:.3f} s long); got {format_number(end)}",
            )
        if end - start < LATENT_FRAME_SECONDS - 1e-9:
            raise InvalidInput(
                "input.repaint_start",
                f"must be at least one latent frame ({LATENT_FRAME_SECONDS:g} s) before the end of the span; "
                f"got {format_number(start)} to {format_number(end)} (a {audio_seconds:.3f} s input)",
            )

    @model_validator(mode="after")
    def _repaint_span_is_long_enough(self) -> EditInput:
        start, end = self.repaint_start, self.repaint_end
        if start is not None and end is not None and end - start < LATENT_FRAME_SECONDS - 1e-9:
            raise InvalidInput(
                "input.repaint_end",
                f"must be at least one latent frame ({LATENT_FRAME_SECONDS:g} s) after `input.repaint_start`; "
                f"got {format_number(start)} and {format_number(end)}",
            )
        return self

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
    """A task's stored echo back as its typed model (the worker's view of the task).

    Raises ``TaskInputError`` when the stored input breaks a rule of the model (a row written below
    the API, or by a version with looser rules): that task fails alone, at once, with code 400.
    """
    try:
        return INPUT_MODELS[TaskType(task_type)].model_validate(stored, strict=False)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise TaskInputError(f"The stored input is not valid: `input.{where}` {error['msg'].lower()}") from None
    except InvalidInput as exc:
        raise TaskInputError(f"The stored input is not valid: {exc.message}") from None
