"""What a task costs (spec §7): the price rule, the usage unit and the estimate frozen at create.

Pure functions; the store moves money only through its ledger (``store.accounts.freeze``/``settle``).

- Unit: 1e-6 USD, the unit of ``meta.usage`` and of every stored amount. At the default price of
  $0.0005 per second that is 500 units per generated second, so 10 s consume 5000, as in both of
  PiAPI's Ace Step examples.
- Freeze at create: whole seconds of the output, rounded up, times the per-second price.
- Consume at completion: the output's seconds times the price, at most what was frozen.
- The seconds a task will generate are known at create for txt2audio (``duration``) and for audio
  tasks whose input length is known then (inline audio, uploads and this server's own files are
  probed). A URL input is fetched only by the worker: until then ``URL_AUDIO_ESTIMATE_SECONDS`` stands
  in for its length, and the worker freezes the difference (or fails the task for want of credit)
  as soon as it has decoded the audio, before generating anything. A balance never goes negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, assert_never

from aceserve.domain.inputs_fields import format_number
from aceserve.domain.inputs_models import Audio2AudioInput, EditInput, ExtendInput, TaskInput, Txt2AudioInput
from aceserve.domain.limits import MAX_OUTPUT_SECONDS
from aceserve.domain.states import TaskType

UNITS_PER_USD: Final = 1_000_000
URL_AUDIO_ESTIMATE_SECONDS: Final = 30.0
"""Stand-in for the length of audio given as a URL, until the worker has fetched it."""


def usd_to_units(usd: float) -> int:
    return round(usd * UNITS_PER_USD)


def units_to_usd(units: int) -> float:
    return units / UNITS_PER_USD


def units_per_second(price_usd_per_second: float) -> int:
    """The price in units per generated second (whole units: prices are multiples of $0.000001/s)."""
    return usd_to_units(price_usd_per_second)


def freeze_units(seconds: float, price_usd_per_second: float) -> int:
    """What is held for ``seconds`` of output: whole seconds, rounded up, at the price."""
    return math.ceil(seconds - 1e-9) * units_per_second(price_usd_per_second)


def consume_units(seconds: float, price_usd_per_second: float, *, frozen: int) -> int:
    """What a completed task with ``seconds`` of output is charged: never more than was frozen."""
    return min(frozen, round(seconds * units_per_second(price_usd_per_second)))


@dataclass(frozen=True)
class Estimate:
    """The seconds of output a task's freeze covers, and why."""

    seconds: float
    reason: str
    exact: bool = True
    """False while an input's length is ``URL_AUDIO_ESTIMATE_SECONDS`` standing in for a URL's."""

    def describe(self, price_usd_per_second: float) -> str:
        """A sentence for a 402: what was estimated and why."""
        units = freeze_units(self.seconds, price_usd_per_second)
        return (
            f"${units_to_usd(units):.4f} for {format_number(math.ceil(self.seconds - 1e-9))} s of audio at "
            f"${price_usd_per_second:g}/s ({self.reason})"
        )


def estimate(task_input: TaskInput, input_seconds: float | None = None) -> Estimate:
    """The seconds ``task_input`` will generate. ``input_seconds`` is its input audio's length when known
    (probed at create, decoded by the worker); None for a URL not yet fetched."""
    match task_input.task_type:
        case TaskType.TXT2AUDIO:
            assert isinstance(task_input, Txt2AudioInput)
            return Estimate(float(task_input.duration), f"`input.duration` is {format_number(task_input.duration)} s")
        case TaskType.AUDIO2AUDIO:
            assert isinstance(task_input, Audio2AudioInput)
            if task_input.duration is not None:
                return Estimate(
                    float(task_input.duration), f"`input.duration` is {format_number(task_input.duration)} s"
                )
            return _input_length(input_seconds, "style_audio", 0.0, "the output is as long as `input.style_audio`")
        case TaskType.EDIT:
            assert isinstance(task_input, EditInput)
            return _input_length(input_seconds, "audio", 0.0, "the output is as long as `input.audio`")
        case TaskType.EXTEND:
            assert isinstance(task_input, ExtendInput)
            added = task_input.left_extend_duration + task_input.right_extend_duration
            return _input_length(
                input_seconds, "audio", float(added), f"`input.audio` plus {format_number(added)} s of extension"
            )
        case _:
            assert_never(task_input.task_type)


def _input_length(input_seconds: float | None, name: str, added: float, what: str) -> Estimate:
    if input_seconds is None:
        seconds = min(MAX_OUTPUT_SECONDS, URL_AUDIO_ESTIMATE_SECONDS + added)
        return Estimate(
            seconds,
            f"{what}; `input.{name}` is a URL, so its length is estimated at "
            f"{format_number(URL_AUDIO_ESTIMATE_SECONDS)} s until the worker has fetched it",
            exact=False,
        )
    seconds = min(MAX_OUTPUT_SECONDS, input_seconds + added)
    return Estimate(seconds, f"{what}, which is {input_seconds:.1f} s long")
