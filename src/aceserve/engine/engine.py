"""``AceStepEngine``: the ``Engine`` the worker drives, on a loaded ``AceStepPipeline``.

Task mapping (the pipeline's own parts do the work; ``runner.py`` and ``sampler.py`` run the loop):

- ``txt2audio``: ``text2music`` from ``style_prompt``, ``lyrics`` and ``duration`` (default 30 s).
- ``audio2audio``: ``cover``. The input audio is VAE-encoded, passed through the audio tokenizer and
  detokenizer (ACE-Step's 5 Hz semantic codes) and used as context. Output length: ``duration``, or
  the input's length; a longer ``duration`` loops the input, a shorter one crops it.
  ``audio_cover_strength`` s: the first ``int(N * s)`` steps run under the cover condition, the rest as
  text2music from silence (ACE-Step 1.5's switch; ``sampler.Conditions``); ``cover_noise_strength`` starts
  from the input noised to a step of the schedule.
- ``edit`` with ``repaint_start``/``repaint_end``: section repaint (``repaint.py``). Otherwise, on base
  and sft, FlowEdit (``sampler.flow_edit``; on turbo, which upstream offers no FlowEdit for, a cover of
  the input from the edit window's start, said in the task's logs) between the source condition
  (``style_prompt``, ``lyrics``) and the target condition (``edit_style_prompt``, ``edit_lyrics``), both
  under the text2music instruction. Defaults ``edit_n_min = 0.6``, ``edit_n_max = 1.0`` (ACE-Step v1's
  "only lyrics" preset: the first 60 % of the steps are skipped, so the source's structure stays;
  ``0.2`` / ``0.4`` is its stronger "remix" preset). Step indices are ``floor(N * fraction)``. Identical
  source and target conditions return the source latents exactly (tolerance 0 on CPU; see
  ``tests/engine/test_flowedit.py``); with ``edit_n_max < 1`` the plain-sampling tail regenerates by
  design. Output length: the input's.
- ``extend``: one ``repaint`` pass over ``[left pad | source | right pad]`` latents: the mask covers
  both pads; the source frames follow the source latents' own noising path at every step (so only
  the pads are generated and the source frames end as the source latents). The original samples
  are then copied into the output unchanged, with a 40 ms seam blend inside each pad
  (``audio.splice_extension``). Output length: left + input + right samples.

Lyrics ``[inst]``, ``[instrumental]`` (any case) or empty become ACE-Step 1.5's instrumental form,
``[Instrumental]``; other lyrics go through as written. The vocal language is the request's
``vocal_language`` (an extension field; PiAPI has none), else ``unknown`` as ACE-Step 1.5 writes it.
``negative_style_prompt`` on checkpoints that run CFG (base, sft) is encoded with the same lyrics and
instruction and replaces the learned null embedding as the unconditional branch of APG guidance; empty
keeps the null embedding (the pipeline's choice: encoding an empty prompt is out of distribution). On
turbo there is no CFG: the negative prompt and ``guidance_scale`` are ignored (``meta["negative_prompt"]
== "ignored"``). Variant defaults are in ``variants.py`` (turbo always its 8 distilled steps, base/sft
32 steps with guidance 7; shift 3).

Seeds: each request gets its own CPU ``torch.Generator`` seeded with ``request.seed``; it draws the
source's VAE posterior sample, then the initial noise (or, for FlowEdit, each step's noise). Results
do not depend on the device the noise ends up on, on the batch, or on the process.

Batching: requests with equal ``batch_key`` (task type, latent frames, steps, guidance, shift, first
step; for edit the mode and the FlowEdit step window and ``n_avg``; the adapter and its scale) run as
one pipeline call, up to ``max_batch_size``; covers of different strengths share a batch (each switches
condition on its own step). Conditions, VAE encode and decode are per item; only the DiT runs batched,
with a key-padding mask on cross-attention (``conditioning.py``), so a batched task matches its solo run
to float rounding (measured 3e-7; the tests allow 1e-5).

Output: float32 ``(2, samples)`` at 48 kHz; ``samples = floor(seconds * 48000 + 0.5)``. txt2audio,
audio2audio and edit are peak-normalized to -1 dBFS like the pipeline's output; extend keeps the
source bit-exact and scales the pads to the source's loudness.

Control: after every denoising step the pipeline-style ``callback_on_step_end`` reports progress
(steps and decodes of the whole call, monotonic, 1.0 at the end) and polls ``should_cancel``; on True
it sets the pipeline's ``_interrupt`` flag, the loop stops after that step, whatever it held is
discarded (never decoded) and ``TaskCancelled`` is raised.
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any

import torch

from aceserve.domain.errors import TaskCancelled, TaskInputError
from aceserve.domain.states import TaskType
from aceserve.engine.lora import AdapterSet
from aceserve.engine.plan import EditMode, Geometry, Job, plan_job
from aceserve.engine.planner.planner import Planner
from aceserve.engine.planning import Planning, wants_plan
from aceserve.engine.runner import PipelineRunner, pipeline_task, steps_to_run
from aceserve.engine.types import (
    CHANNELS,
    SAMPLE_RATE,
    CancelCheck,
    EngineInfo,
    GenerationRequest,
    GenerationResult,
    ProgressCallback,
)
from aceserve.engine.variants import VariantDefaults
from aceserve.engine.warmup import CompileWatch, WarmupReport

PLANNING_SHARE = 0.5
"""The part of a task's progress the 5 Hz LM's planning fills when the task plans (the DiT's steps and
decoding fill the rest). A fixed split: the LM's decode steps run one after another, hundreds for a
long song, so planning can take as long as the DiT or longer."""


def _scaled(callback: ProgressCallback | None, share: float) -> ProgressCallback | None:
    """``callback`` for a stage that fills the first ``share`` of the bar."""
    if callback is None or not share:
        return None
    report = callback
    return lambda done: report(done * share)


class _Progress:
    """Fraction of work done, reported monotonically and ending at exactly 1.0."""

    def __init__(self, callback: ProgressCallback | None, total: int, start: float = 0.0) -> None:
        self._callback = callback
        self._total = max(total, 1)
        self._start = start  # the share already reported (planning's)
        self._done = 0
        self._last = start

    def advance(self, units: int = 1) -> None:
        self._done = min(self._done + units, self._total)
        self._report(min(self._start + (1.0 - self._start) * self._done / self._total, 0.999))

    def finish(self) -> None:
        self._report(1.0)

    def _report(self, value: float) -> None:
        if self._callback is not None and value > self._last:
            self._last = value
            self._callback(value)


class AceStepEngine:
    """Runs PiAPI ace-step tasks on an ``AceStepPipeline`` (the module docstring says how).

    ``check`` raises ``TaskInputError`` for input the model cannot take; ``batch_key`` never raises
    (an invalid request gets a key of its own, so it runs alone and ``generate`` raises for it
    alone). ``generate`` checks every request before running any, and runs one call at a time (a
    lock guards the pipeline).
    """

    def __init__(
        self,
        pipe: Any,
        *,
        model: str,
        variant: VariantDefaults,
        device: str,
        max_batch_size: int = 4,
        adapters: AdapterSet | None = None,
        planner: Planner | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"`max_batch_size` must be at least 1, got {max_batch_size!r}.")
        vae_config = pipe.vae.config
        if int(vae_config.sampling_rate) != SAMPLE_RATE or int(vae_config.audio_channels) != CHANNELS:
            raise ValueError(
                f"The checkpoint's VAE makes {vae_config.audio_channels}-channel audio at "
                f"{vae_config.sampling_rate} Hz; aceserve needs {CHANNELS} channels at {SAMPLE_RATE} Hz."
            )
        self._pipe = pipe
        self._variant = variant
        self._geometry = Geometry(SAMPLE_RATE, int(math.prod(vae_config.downsampling_ratios)))
        self._runner = PipelineRunner(pipe, self._geometry)
        detokenizer = getattr(pipe, "audio_token_detokenizer", None)
        pool = int(getattr(getattr(detokenizer, "config", None), "pool_window_size", 5))
        self._planning = Planning(planner, pool)
        self._lock = threading.Lock()
        self._invalid = itertools.count()
        self._adapters = adapters
        self.compile_watch: CompileWatch | None = None  # set when the DiT is compiled (loader.py)
        self.warmup_report: WarmupReport | None = None
        self._info = EngineInfo(
            model=model,
            variant=variant.name,
            device=device,
            dtype=str(pipe.transformer.dtype).removeprefix("torch."),
            default_steps=variant.steps,
            default_guidance=variant.guidance,
            max_batch_size=max_batch_size,
            adapters=adapters.names if adapters is not None else (),
        )

    @property
    def info(self) -> EngineInfo:
        return self._info

    @property
    def pipeline(self) -> Any:
        return self._pipe

    @property
    def runner(self) -> PipelineRunner:
        return self._runner

    @property
    def planner(self) -> Planner | None:
        return self._planning.planner

    def plan(self, request: GenerationRequest) -> Job:
        job = plan_job(request, self._variant, self._geometry)
        loaded = self._adapters.names if self._adapters is not None else ()
        if job.lora and job.lora not in loaded:
            listed = ", ".join(loaded) if loaded else "none"
            raise TaskInputError(f"`lora` must name an adapter this worker loaded ({listed}), got {job.lora!r}.")
        wants_plan(request, has_planner=self.planner is not None)
        return job

    def check(self, request: GenerationRequest) -> None:
        """Raise ``TaskInputError`` (a sentence naming the field and value) if ``request`` cannot run."""
        self.plan(request)

    def batch_key(self, request: GenerationRequest) -> str:
        try:
            return self.plan(request).batch_key()
        except TaskInputError:
            return f"invalid;{next(self._invalid)}"

    def generate(
        self,
        requests: list[GenerationRequest],
        *,
        on_progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> list[GenerationResult]:
        jobs = [self.plan(request) for request in requests]
        share = PLANNING_SHARE if self._planning.wanted(jobs) else 0.0
        with self._lock, torch.no_grad():
            planned = self._planning.run(jobs, should_cancel, _scaled(on_progress, share))
        jobs = [p.job for p in planned]
        groups = self._groups(jobs)
        progress = _Progress(on_progress, sum(steps_to_run(jobs[g[0]]) + len(g) for g in groups), start=share)
        results: list[GenerationResult | None] = [None] * len(jobs)

        def on_step_end(pipe: Any, step: int, t: float, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
            progress.advance()
            if should_cancel is not None and should_cancel():
                pipe._interrupt = True
            return {}

        with self._lock, torch.no_grad():
            for group in groups:
                if should_cancel is not None and should_cancel():
                    raise TaskCancelled("The task was cancelled before it ran.")
                batch = [jobs[i] for i in group]
                if self._adapters is not None:  # the batch key holds the adapter: one per group
                    self._adapters.apply(*batch[0].adapter)
                latents = self._runner.denoise(batch, callback=on_step_end)
                if latents is None:  # interrupted: whatever the loop holds is discarded, never decoded
                    raise TaskCancelled("The task was cancelled while it ran.")
                for row, index in enumerate(group):
                    decoded = self._runner.decode(latents[row : row + 1])
                    audio = self._runner.finish(jobs[index], decoded)
                    job = jobs[index]
                    meta = self._meta(job, len(group))
                    if planned[index].meta is not None:
                        meta["plan"] = planned[index].meta
                    results[index] = GenerationResult(audio=audio, meta=meta, notes=job.notes + planned[index].notes)
                    progress.advance()
                self._pipe.maybe_free_model_hooks()
        progress.finish()
        return [r for r in results if r is not None]

    def _groups(self, jobs: list[Job]) -> list[list[int]]:
        """Indices of compatible jobs, in first-seen order, chunked to ``max_batch_size``."""
        by_key: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            by_key.setdefault(job.batch_key(), []).append(index)
        size = self._info.max_batch_size
        return [indices[i : i + size] for indices in by_key.values() for i in range(0, len(indices), size)]

    def _meta(self, job: Job, batch_size: int) -> dict[str, object]:
        s = job.sampling
        meta: dict[str, object] = {
            "seed": int(job.request.seed),
            "variant": self._variant.name,
            "pipeline_task": job.edit_mode if job.task is TaskType.EDIT else pipeline_task(job),
            "steps": s.steps,
            "guidance_scale": s.guidance,
            "shift": s.shift,
            "batch_size": batch_size,
            "negative_prompt": "used" if s.negative else ("ignored" if job.request.negative_style_prompt else "none"),
        }
        if job.task is TaskType.EDIT and job.edit_mode == EditMode.FLOWEDIT:
            meta["edit_n_min"], meta["edit_n_max"] = job.edit_fractions
            meta["edit_steps"] = list(job.edit_window)
            meta["edit_n_avg"] = job.edit_n_avg
        if job.task is TaskType.EDIT and job.edit_mode == EditMode.REPAINT:
            meta["repaint_samples"] = list(job.repaint_samples)
        if job.task is TaskType.AUDIO2AUDIO:
            meta["audio_cover_strength"] = job.cover_strength
            meta["cover_steps"] = job.cover_steps
        if job.start_step:
            meta["start_step"] = job.start_step
        if job.adapter[0]:
            meta["lora"], meta["lora_scale"] = job.adapter
        return meta
