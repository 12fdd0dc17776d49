"""Planner inputs on an engine without a planner (``--lm none``): an input error that says so, never dropped."""

from __future__ import annotations

import pytest

from aceserve.domain.errors import TaskInputError
from aceserve.engine.engine import AceStepEngine
from aceserve.engine.types import Audio
from tests.engine.helpers import request


def test_thinking_without_a_planner_is_an_input_error_that_says_so(engine: AceStepEngine) -> None:
    with pytest.raises(TaskInputError, match=r"`thinking` is true, but this server runs without the 5 Hz LM planner"):
        engine.check(request("txt2audio", thinking=True))
    engine.check(request("txt2audio", thinking=False))


def test_a_description_without_a_planner_is_an_input_error(engine: AceStepEngine) -> None:
    with pytest.raises(TaskInputError, match=r"`description` needs the 5 Hz LM planner"):
        engine.check(request("txt2audio", description="a song about rain"))


def test_thinking_on_other_task_types_is_ignored_with_a_log_line(engine: AceStepEngine, source_audio: Audio) -> None:
    (result,) = engine.generate([request("audio2audio", audio=source_audio, duration=1.0, thinking=True)])
    assert result.notes == ("`thinking` applies to txt2audio only; this audio2audio task ran without the planner.",)


def test_metadata_out_of_the_models_sets_is_an_input_error(engine: AceStepEngine) -> None:
    for fields, fragment in [
        ({"bpm": 301}, "`bpm` must be an integer from 30 to 300"),
        ({"key_scale": "H major"}, "`key_scale` must be a key"),
        ({"time_signature": 5}, "`time_signature` must be one of"),
        ({"vocal_language": "xx"}, "`vocal_language` must be one of"),
    ]:
        with pytest.raises(TaskInputError, match=fragment):
            engine.check(request("txt2audio", **fields))
