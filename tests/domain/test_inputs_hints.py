"""What the create path learns for batching: batch_hint."""

from __future__ import annotations

from typing import Any

import pytest

from aceserve.domain.inputs import batch_hint

from .helpers import body, parse


@pytest.mark.parametrize(
    ("fields", "hint"),
    [
        ({}, "txt2audio:30:default:default"),
        ({"duration": 30.0}, "txt2audio:30:default:default"),
        ({"duration": 42.5, "infer_steps": 8}, "txt2audio:42.5:8:default"),
        ({"guidance_scale": 7}, "txt2audio:30:default:7"),
        ({"guidance_scale": 7.0}, "txt2audio:30:default:7"),
        ({"guidance_scale": 0}, "txt2audio:30:default:0"),
        ({"guidance_scale": 3.5, "infer_steps": 50, "duration": 600}, "txt2audio:600:50:3.5"),
    ],
)
def test_txt2audio_batch_hint_carries_duration_steps_and_guidance(fields: dict[str, Any], hint: str) -> None:
    assert batch_hint(parse(body(**fields))) == hint


def test_txt2audio_batch_hint_ignores_prompts_seed_and_output_format() -> None:
    a = parse(body(style_prompt="rock", lyrics="[verse] a", seed=1, output_format="wav"))
    b = parse(body(style_prompt="jazz", negative_prompt="noise", seed=2, output_format="flac"))
    assert batch_hint(a) == batch_hint(b)


@pytest.mark.parametrize("task_type", ["audio2audio", "edit", "extend"])
def test_audio_tasks_have_no_batch_hint(task_type: str) -> None:
    assert batch_hint(parse(body(task_type, infer_steps=8))) is None
