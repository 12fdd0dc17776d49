"""The 5 Hz LM planner in the engine: which tasks it plans, and what a plan changes.

Only txt2audio plans (upstream also skips its LM for cover and repaint). A txt2audio task plans when
``thinking`` is true, or absent on an engine that has a planner; ``description`` asks the planner to
write the caption and lyrics first (with ``thinking: false`` it writes them and the metadata, but no
codes). Either needs a planner: without one (``--lm none``) they are an input error that says so,
never silently dropped. ``thinking: false`` and ``--lm none`` keep the DiT-only path, bit for bit.

What a plan changes, as upstream's ``generate_music`` does: the DiT's caption becomes the LM's
rewrite, its bpm, key, time signature and vocal language the user's or else the LM's, and the audio
codes condition the DiT the way a cover's source does (``runner.py``: the pipeline's own
``prepare_src_latents`` from the code string, under the cover instruction). The duration is the
task's, never the LM's. Deliberate differences from upstream:

- sampling is Gumbel-max with the task's seed on the CPU (``planner/decode.py``), so a plan does not
  depend on batch-mates or device; upstream draws from the global torch generator;
- ``ceil(frames / 5)`` codes are written and the detokenized latents cropped to the task's frames;
  upstream writes ``int(seconds * 5)`` and pads the shortfall with silence;
- the LM's vocal language reaches the DiT (upstream looks it up under a key its parser never
  writes, so the LM's language is dropped there);
- a vocal language the user gave is forced into the chain of thought (upstream lets the LM write
  one and then ignores it), and ``thinking: false`` runs no LM at all (upstream still lets it fill
  metadata), so that ``thinking: false`` is today's output bit for bit;
- the LM's negative prompt is upstream's default ("NO USER INPUT": no caption in the unconditional
  prompt); ``negative_style_prompt`` stays the DiT's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from aceserve.domain.errors import TaskCancelled, TaskInputError
from aceserve.domain.music import MAX_PLAN_SECONDS, MIN_PLAN_SECONDS
from aceserve.domain.states import TaskType
from aceserve.engine.plan import MODEL_INSTRUMENTAL_LYRICS, Job, is_instrumental
from aceserve.engine.planner.decode import Sampling
from aceserve.engine.planner.parse import Metadata
from aceserve.engine.planner.planner import Planner, PlanningStopped, PlanOutcome, PlanRequest
from aceserve.engine.types import GenerationRequest


def wants_plan(request: GenerationRequest, *, has_planner: bool) -> bool:
    """Whether ``request`` runs the planner; raises ``TaskInputError`` if it needs one that is not loaded."""
    if request.task_type is not TaskType.TXT2AUDIO:
        return False
    if not has_planner:
        if request.description:
            raise TaskInputError(
                "`description` needs the 5 Hz LM planner, and this server runs without one (--lm none); "
                "send `style_prompt` and `lyrics` instead."
            )
        if request.thinking:
            raise TaskInputError(
                "`thinking` is true, but this server runs without the 5 Hz LM planner (--lm none); "
                "leave `thinking` out or set it to false."
            )
        return False
    return bool(request.description) or request.thinking is not False


def ignored_planner_inputs(request: GenerationRequest) -> tuple[str, ...]:
    """Log lines for planner inputs a task type does not use."""
    if request.task_type is not TaskType.TXT2AUDIO and request.thinking:
        return (f"`thinking` applies to txt2audio only; this {request.task_type.value} task ran without the planner.",)
    return ()


DEFAULT_SAMPLING = Sampling()  # upstream's defaults: temperature 0.85, top-p 0.9, top-k off, CFG 2.0


def sampling_for(request: GenerationRequest) -> Sampling:
    def pick(value: float | None, default: float) -> float:
        return default if value is None else float(value)

    return Sampling(
        temperature=pick(request.lm_temperature, DEFAULT_SAMPLING.temperature),
        top_k=DEFAULT_SAMPLING.top_k if request.lm_top_k is None else int(request.lm_top_k),
        top_p=pick(request.lm_top_p, DEFAULT_SAMPLING.top_p),
        cfg_scale=pick(request.lm_cfg_scale, DEFAULT_SAMPLING.cfg_scale),
    )


def codes_for(frames: int, pool: int) -> int:
    """5 Hz codes for ``frames`` 25 Hz latent frames: enough to cover them (the DiT crops the rest)."""
    return -(-frames // pool)


def plan_request(job: Job, pool: int) -> PlanRequest:
    request = job.request
    condition = job.condition
    seconds = min(max(round(job.metas_seconds), MIN_PLAN_SECONDS), MAX_PLAN_SECONDS)
    return PlanRequest(
        seed=int(request.seed),
        caption=condition.caption,
        lyrics=condition.lyrics,
        seconds=seconds,
        codes=0 if request.thinking is False else codes_for(job.frames, pool),
        given=Metadata(
            bpm=request.bpm,
            key_scale=request.key_scale,
            time_signature=request.time_signature,
            language=request.vocal_language,
        ),
        description=request.description or None,
        keep_lyrics=not is_instrumental(request.lyrics),
        sampling=sampling_for(request),
    )


@dataclass(frozen=True)
class Planned:
    job: Job
    meta: dict[str, object] | None = None  # ``meta.plan``
    notes: tuple[str, ...] = ()


def apply_plan(job: Job, outcome: PlanOutcome) -> Planned:
    """The job as its plan changes it: caption, lyrics, metadata and audio codes; or, when the plan
    could not be used, the job unchanged and a line for the task's logs saying so."""
    if outcome.plan is None:
        note = (
            f"The 5 Hz LM planner's output could not be used ({outcome.error}); this task ran without a plan "
            "(DiT only)."
        )
        return Planned(job, None, (note,))
    plan = outcome.plan
    found = plan.metadata
    condition = job.condition
    lyrics = condition.lyrics
    if plan.lyrics is not None:
        lyrics = MODEL_INSTRUMENTAL_LYRICS if is_instrumental(plan.lyrics) else plan.lyrics
    condition = dataclasses.replace(
        condition,
        caption=found.caption or condition.caption,
        lyrics=lyrics,
        language=found.language or condition.language,
        bpm=found.bpm,
        key_scale=found.key_scale,
        time_signature=found.time_signature,
    )
    meta: dict[str, object] = {
        "bpm": found.bpm,
        "key_scale": found.key_scale,
        "time_signature": found.time_signature,
        "vocal_language": condition.language,
        "caption": condition.caption,
        "duration": found.duration,
        "audio_codes": len(plan.codes),
        "lm_tokens": outcome.tokens,
        "lm_seconds": round(outcome.seconds, 3),
    }
    if plan.lyrics is not None:
        meta["lyrics"] = lyrics
    return Planned(dataclasses.replace(job, condition=condition, codes=plan.codes), meta)


class Planning:
    """Runs a batch's planning on the engine's planner (or passes every job through when none)."""

    def __init__(self, planner: Planner | None, pool: int) -> None:
        self.planner = planner
        self.pool = pool

    def wanted(self, jobs: list[Job]) -> bool:
        """Whether any of ``jobs`` runs the planner."""
        return any(wants_plan(job.request, has_planner=self.planner is not None) for job in jobs)

    def run(
        self,
        jobs: list[Job],
        should_stop: Callable[[], bool] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> list[Planned]:
        """Plan the jobs that want it; ``on_progress`` gets the fraction of planning done."""
        planned = [Planned(job, None, ignored_planner_inputs(job.request)) for job in jobs]
        chosen = [i for i, job in enumerate(jobs) if wants_plan(job.request, has_planner=self.planner is not None)]
        if not chosen or self.planner is None:
            return planned
        try:
            requests = [plan_request(jobs[i], self.pool) for i in chosen]
            outcomes = self.planner.plan(requests, should_stop, on_progress)
        except PlanningStopped as exc:
            raise TaskCancelled("The task was cancelled while it was being planned.") from exc
        for index, outcome in zip(chosen, outcomes, strict=True):
            planned[index] = apply_plan(jobs[index], outcome)
        return planned
