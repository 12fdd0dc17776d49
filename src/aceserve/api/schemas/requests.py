"""Create-task request bodies (spec §3): the input per task type, config, examples."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aceserve.api.schemas.common import NON_BLANK
from aceserve.domain.inputs import (
    AUDIO2AUDIO_SECONDS,
    DEFAULT_LYRICS,
    MAX_EXTEND_SECONDS,
    MAX_GUIDANCE_SCALE,
    MAX_INFER_STEPS,
    MAX_LYRICS_CHARS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_WEBHOOK_SECRET_CHARS,
    TXT2AUDIO_SECONDS,
)
from aceserve.domain.inputs_fields import MAX_URL_CHARS
from aceserve.domain.states import OutputFormat, TaskType

# --- Create request: input fields (spec §3.1) -------------------------------------------------------

StylePrompt = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PROMPT_CHARS,
        pattern=NON_BLANK,
        description=f"Style of the music: genre, instruments, mood, tempo. Non-blank, ≤ {MAX_PROMPT_CHARS} characters.",
        examples=["upbeat synth-pop, female vocals, 120 bpm"],
    ),
]
Lyrics = Annotated[
    str,
    Field(
        max_length=MAX_LYRICS_CHARS,
        description=(
            "Plain text with section tags (`[verse]`, `[chorus]`, `[bridge]`, `[intro]`, `[outro]` …); "
            f"`[inst]`, `[instrumental]` or empty means instrumental. ≤ {MAX_LYRICS_CHARS} characters."
        ),
        examples=["[verse]\nCity lights are calling\n[chorus]\nWe run all night"],
    ),
]
NegativeStylePrompt = Annotated[
    str, Field(max_length=MAX_PROMPT_CHARS, description="Styles to steer away from.", examples=["distorted, lo-fi"])
]
NegativePromptAlias = Annotated[
    str | None,
    Field(
        max_length=MAX_PROMPT_CHARS,
        description="Alias of `negative_style_prompt`, accepted on input only (the echo uses the canonical name). "
        "If both are given they must be equal.",
    ),
]
AudioSource = Annotated[
    str,
    Field(
        min_length=1,
        description=(
            "Audio as an http(s) URL (fetched by the worker; ≤ 2048 characters), a `data:audio/…;base64,…` URI or "
            "raw base64 (standard or URL-safe). Inline audio is at most `max_input_audio_bytes` (50 MiB by "
            "default) decoded and is echoed as the URL of its stored copy. Any format ffmpeg decodes, ≤ 600 s."
        ),
        examples=["https://example.com/audio/input.mp3"],
    ),
]
Seed = Annotated[
    int | None,
    Field(
        ge=0,
        le=MAX_SEED,
        description="[ext] 0 ≤ seed < 2^63; same seed and inputs give the same audio; random when absent.",
    ),
]
InferSteps = Annotated[
    int | None, Field(ge=1, le=MAX_INFER_STEPS, description="[ext] Denoising steps; the model variant's default.")
]
GuidanceScale = Annotated[
    float | None, Field(ge=0, le=MAX_GUIDANCE_SCALE, description="[ext] Classifier-free guidance scale.")
]


Fraction = Annotated[float | None, Field(ge=0, le=1)]


class _Input(BaseModel):
    """Unknown fields are ignored, never rejected; a JSON null counts as an absent field."""

    model_config = ConfigDict(extra="allow")


class Txt2AudioInput(_Input):
    """`input` of a `txt2audio` task: music from a style prompt and lyrics."""

    style_prompt: StylePrompt
    lyrics: Lyrics = DEFAULT_LYRICS
    duration: float = Field(
        30, ge=TXT2AUDIO_SECONDS[0], le=TXT2AUDIO_SECONDS[1], description="Seconds of audio to generate."
    )
    negative_style_prompt: NegativeStylePrompt = ""
    negative_prompt: NegativePromptAlias = None
    seed: Seed = None
    infer_steps: InferSteps = None
    guidance_scale: GuidanceScale = None
    output_format: OutputFormat = OutputFormat.MP3


class Audio2AudioInput(_Input):
    """`input` of an `audio2audio` task: restyle existing audio."""

    style_audio: AudioSource
    style_prompt: StylePrompt
    lyrics: Lyrics = DEFAULT_LYRICS
    negative_style_prompt: NegativeStylePrompt = ""
    negative_prompt: NegativePromptAlias = None
    duration: float | None = Field(
        None,
        ge=AUDIO2AUDIO_SECONDS[0],
        le=AUDIO2AUDIO_SECONDS[1],
        description="Seconds of output; default (and absent from the echo): the input audio's length.",
    )
    audio_cover_strength: Fraction = Field(None, description="[ext] How closely the output follows the input, 0–1.")
    seed: Seed = None
    infer_steps: InferSteps = None
    guidance_scale: GuidanceScale = None
    output_format: OutputFormat = OutputFormat.MP3


class EditInput(_Input):
    """`input` of an `edit` task: change the style or lyrics of existing audio."""

    audio: AudioSource
    style_prompt: StylePrompt = Field(description="Describes the input audio.")
    lyrics: Lyrics = Field(DEFAULT_LYRICS, description="Lyrics of the input audio.")
    edit_style_prompt: StylePrompt = Field(description="The style wanted.")
    edit_lyrics: Lyrics = Field(DEFAULT_LYRICS, description="The lyrics wanted.")
    edit_n_min: Fraction = Field(None, description="[ext] Start of the edit window, 0–1; less than `edit_n_max`.")
    edit_n_max: Fraction = Field(None, description="[ext] End of the edit window, 0–1.")
    seed: Seed = None
    infer_steps: InferSteps = None
    guidance_scale: GuidanceScale = None
    output_format: OutputFormat = OutputFormat.MP3


ExtendSeconds = Annotated[float, Field(ge=0, le=MAX_EXTEND_SECONDS)]
ExtendAlias = Annotated[float | None, Field(ge=0, le=MAX_EXTEND_SECONDS)]


class ExtendInput(_Input):
    """`input` of an `extend` task: add music before and/or after existing audio.

    `left_extend_duration + right_extend_duration` must be more than 0 and at most 600 s; the whole
    output (source plus extensions) at most 600 s.
    """

    audio: AudioSource
    left_extend_duration: ExtendSeconds = Field(0, description="Seconds added before the audio.")
    right_extend_duration: ExtendSeconds = Field(30, description="Seconds added after the audio.")
    left_extend_length: ExtendAlias = Field(None, description="Alias of `left_extend_duration` (input only).")
    right_extend_length: ExtendAlias = Field(None, description="Alias of `right_extend_duration` (input only).")
    style_prompt: StylePrompt = Field(description="Style of the extension.")
    lyrics: Lyrics = DEFAULT_LYRICS
    negative_style_prompt: NegativeStylePrompt = ""
    negative_prompt: NegativePromptAlias = None
    seed: Seed = None
    infer_steps: InferSteps = None
    guidance_scale: GuidanceScale = None
    output_format: OutputFormat = OutputFormat.MP3


TaskInput = Annotated[
    Txt2AudioInput | Audio2AudioInput | EditInput | ExtendInput,
    Field(
        description="The model for `task_type`: `txt2audio` → Txt2AudioInput, `audio2audio` → Audio2AudioInput, "
        "`edit` → EditInput, `extend` → ExtendInput. Fields of other task types are ignored."
    ),
]


# --- Create request: config and the body (spec §3) ----------------------------------------------------


class WebhookConfig(BaseModel):
    endpoint: str = Field(
        "",
        max_length=MAX_URL_CHARS,
        pattern=r"^$|^[Hh][Tt][Tt][Pp][Ss]?://\S+$",
        description='`""` (no webhooks) or an absolute http(s) URL that receives the task on every status change. '
        "Public addresses only: a private IP literal or `localhost` is refused unless the server allows it.",
        examples=["https://example.com/hooks/ace-step"],
    )
    secret: str = Field(
        "",
        max_length=MAX_WEBHOOK_SECRET_CHARS,
        pattern=r"^(?:[!-~](?:[ -~]*[!-~])?)?$",
        description="Sent verbatim in the `x-webhook-secret` header: printable ASCII, no surrounding spaces.",
        examples=["my-webhook-secret"],
    )


class ServiceMode(StrEnum):
    """PiAPI's pool choice; echoed back, no other effect here."""

    DEFAULT = ""
    PUBLIC = "public"
    PRIVATE = "private"


class TaskConfig(BaseModel):
    service_mode: ServiceMode = ServiceMode.DEFAULT
    webhook_config: WebhookConfig = Field(default_factory=WebhookConfig)


class CreateTaskRequest(BaseModel):
    """Body of `POST /api/v1/task`. `input` must be the model for `task_type`; unknown fields are ignored."""

    model: Literal["Qubico/ace-step"]
    task_type: TaskType
    input: TaskInput
    config: TaskConfig | None = Field(None, description="Optional; defaults as shown.")


_SPEC_CONFIG = {"service_mode": "", "webhook_config": {"endpoint": "", "secret": ""}}
CREATE_EXAMPLES: dict[str, dict[str, Any]] = {
    "txt2audio": {
        "model": "Qubico/ace-step",
        "task_type": "txt2audio",
        "input": {"style_prompt": "rock", "lyrics": "[inst]", "duration": 30, "negative_style_prompt": ""},
        "config": _SPEC_CONFIG,
    },
    "audio2audio": {
        "model": "Qubico/ace-step",
        "task_type": "audio2audio",
        "input": {"style_audio": "https://example.com/audio/input.mp3", "style_prompt": "jazz, piano trio"},
    },
    "edit": {
        "model": "Qubico/ace-step",
        "task_type": "edit",
        "input": {
            "audio": "https://example.com/audio/song.mp3",
            "style_prompt": "pop, female vocals",
            "lyrics": "[verse]\nHello world",
            "edit_style_prompt": "pop, male vocals",
            "edit_lyrics": "[verse]\nGoodbye world",
        },
    },
    "extend": {
        "model": "Qubico/ace-step",
        "task_type": "extend",
        "input": {"audio": "https://example.com/audio/song.mp3", "right_extend_duration": 20, "style_prompt": "rock"},
    },
    "txt2audio_with_extensions": {
        "model": "Qubico/ace-step",
        "task_type": "txt2audio",
        "input": {"style_prompt": "lofi hip hop", "duration": 60, "seed": 42, "infer_steps": 8, "output_format": "wav"},
        "config": {"service_mode": "", "webhook_config": {"endpoint": "https://example.com/hooks", "secret": "s3cret"}},
    },
}
