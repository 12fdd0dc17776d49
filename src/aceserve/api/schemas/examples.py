"""Example create bodies for the OpenAPI document (each one is accepted by the server: a test sends them)."""

from __future__ import annotations

from typing import Any

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
