"""Denoising loops on the pipeline's own DiT: flow-matching Euler sampling, and FlowEdit.

The plain loop is the one ``AceStepPipeline.__call__`` runs (shifted schedule, Euler steps in float32,
APG guidance with the learned null condition on CFG checkpoints, cover-strength blending), with
three additions the pipeline cannot do from outside: conditions of different lengths in one batch
(key-padding masks), a caller-chosen unconditional branch (the negative prompt), and a "keep"
region that follows the source latents' noising path (extend). Control follows the pipeline's
contract: after every step ``callback_on_step_end(pipe, step, t, {"latents": x})`` runs; when it
sets ``pipe._interrupt`` the loop stops and returns None, so partial latents are never decoded.

FlowEdit (training-free editing, as ACE-Step v1's edit mode runs it) on the shifted schedule
``t_0 = 1 > ... > t_N = 0``: skip the steps before ``n_min``; ``z = x_src``; for steps ``i < n_max``
draw fresh noise ``e``, ``zt_src = (1 - t) x_src + t e``, ``zt_tar = zt_src + (z - x_src)``, and step
``z += (t_next - t) (v(zt_tar | target) - v(zt_src | source))``; from ``n_max`` on, re-noise
``z + t (e - x_src)`` and finish with plain sampling under the target condition. The two conditions
are padded to one width, so with identical source and target conditions both velocities come from
identical inputs of identical shapes: they are equal, and ``z`` stays ``x_src`` exactly (when
``n_max = N``; a plain-sampling tail regenerates by design).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.guiders.adaptive_projected_guidance import MomentumBuffer, normalized_guidance

from aceserve.engine.conditioning import Cond, CrossAttentionMask, align, concat, stack

StepCallback = Callable[[Any, int, float, dict[str, torch.Tensor]], object]
APG_MOMENTUM = -0.75
APG_NORM_THRESHOLD = 2.5


def sigma_schedule(steps: int, shift: float) -> torch.Tensor:
    """``steps + 1`` float32 noise levels from 1 down to 0, shifted as ACE-Step does."""
    t = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float32)
    if shift != 1.0:
        t = shift * t / (1 + (shift - 1) * t)
    return t


@dataclass(frozen=True)
class Guidance:
    """Classifier-free guidance: the unconditional conditions, or None for a plain forward pass."""

    uncond: Cond | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class Phase:
    """One item's conditions for the steps before ``until`` (absolute step index)."""

    until: int
    cond: torch.Tensor  # (1, L, H)
    context: torch.Tensor  # (1, T, 2D)
    uncond: torch.Tensor | None = None  # (1, L', H) when the batch runs CFG


class Conditions:
    """Every item's phases: what the DiT is conditioned on at each step.

    Cover with ``audio_cover_strength < 1`` has two phases (the cover condition and context, then
    text2music from silence, switched after ``int(N * s)`` steps as ACE-Step 1.5 does); every other
    task one. Items switch on their own step, so a batch never changes what an item sees.
    """

    def __init__(self, phases: list[list[Phase]], scale: float) -> None:
        self._phases = phases
        self._scale = scale
        self._key: tuple[int, ...] | None = None
        self._current: tuple[Cond, Guidance, torch.Tensor] | None = None

    def at(self, step: int) -> tuple[Cond, Guidance, torch.Tensor]:
        chosen = [next((p for p in item if step < p.until), item[-1]) for item in self._phases]
        key = tuple(id(p) for p in chosen)
        if key != self._key or self._current is None:
            cond = stack([p.cond for p in chosen])
            guidance = Guidance()
            if self._scale > 1.0:
                guidance = Guidance(stack([p.uncond for p in chosen if p.uncond is not None]), self._scale)
            self._key, self._current = key, (cond, guidance, torch.cat([p.context for p in chosen]))
        return self._current


@dataclass(frozen=True)
class Keep:
    """Frames (True in ``mask``, ``(B, T, 1)``) that follow the source's noising path for steps ``< until``."""

    mask: torch.Tensor
    source: torch.Tensor  # (B, T, D) float32
    noise: torch.Tensor  # (B, T, D) float32
    until: int


class Denoiser:
    """Velocity predictions from the pipeline's DiT for a batch of latents."""

    def __init__(self, pipe: Any, masks: CrossAttentionMask, device: torch.device) -> None:
        self.pipe = pipe
        self.masks = masks
        self.device = device

    def velocity(self, x: torch.Tensor, t: float, cond: Cond, context: torch.Tensor) -> torch.Tensor:
        """The DiT's velocity for ``x`` ``(B, T, D)``.

        The frames are zero-padded to a whole number of patches here, as the DiT itself does right after
        joining context and latents (so the numbers are the same), and its output is cut back to ``T``:
        the DiT then never sees a length that is not a multiple of its patch size, which spares
        ``torch.compile`` a second graph per shape class (the DiT branches on ``T % patch_size``).
        """
        transformer = self.pipe.transformer
        dtype = transformer.dtype
        frames = int(x.shape[1])
        extra = -frames % int(transformer.config.patch_size)
        hidden = x.to(dtype)
        if extra:
            hidden = torch.nn.functional.pad(hidden, (0, 0, 0, extra))
            context = torch.nn.functional.pad(context, (0, 0, 0, extra))
        timestep = torch.full((x.shape[0],), t, device=self.device, dtype=dtype)
        with self.masks.applied(cond.mask):
            out: torch.Tensor = transformer(
                hidden_states=hidden,
                timestep=timestep,
                timestep_r=timestep,
                encoder_hidden_states=cond.hidden,
                context_latents=context,
                return_dict=False,
            )[0]
        return out[:, :frames].float()

    def guided(
        self,
        x: torch.Tensor,
        t: float,
        cond: Cond,
        context: torch.Tensor,
        guidance: Guidance,
        momentum: MomentumBuffer | None,
    ) -> torch.Tensor:
        if guidance.uncond is None:
            return self.velocity(x, t, cond, context)
        both = self.velocity(torch.cat([x, x]), t, concat(cond, guidance.uncond), torch.cat([context, context]))
        v_cond, v_uncond = both.chunk(2)
        guided: torch.Tensor = normalized_guidance(
            pred_cond=v_cond,
            pred_uncond=v_uncond,
            guidance_scale=guidance.scale - 1.0,
            momentum_buffer=momentum,
            eta=0.0,
            norm_threshold=APG_NORM_THRESHOLD,
            use_original_formulation=True,
            norm_dim=(1,),
        )
        return guided

    def momentum(self, guidance: Guidance) -> MomentumBuffer | None:
        return MomentumBuffer(momentum=APG_MOMENTUM) if guidance.uncond is not None else None

    def end_step(self, callback: StepCallback | None, step: int, t: float, x: torch.Tensor) -> bool:
        """Run the step-end callback; True when it asked the pipeline to stop."""
        if callback is not None:
            callback(self.pipe, step, t, {"latents": x})
        return bool(getattr(self.pipe, "_interrupt", False))


def renoise(source: torch.Tensor, level: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The source latents at noise level ``level``: ``level * noise + (1 - level) * source``."""
    return level * noise + (1 - level) * source


def sample(
    den: Denoiser,
    x: torch.Tensor,
    conditions: Conditions,
    *,
    sigmas: torch.Tensor,
    start: int = 0,
    keep: Keep | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor | None:
    """Euler sampling from ``x`` (float32 ``(B, T, D)``) at noise level ``sigmas[start]``; None when interrupted."""
    den.pipe._interrupt = False
    momentum: MomentumBuffer | None = None
    for i in range(start, len(sigmas) - 1):
        t = float(sigmas[i])
        cond, guidance, context = conditions.at(i)
        if momentum is None:
            momentum = den.momentum(guidance)
        v = den.guided(x, t, cond, context, guidance, momentum)
        x = x + (sigmas[i + 1] - sigmas[i]) * v
        if keep is not None and i < keep.until:
            x = torch.where(keep.mask, renoise(keep.source, sigmas[i + 1], keep.noise), x)
        if den.end_step(callback, i, t, x):
            return None
    return x


def flow_edit(
    den: Denoiser,
    source: torch.Tensor,
    context: torch.Tensor,
    source_cond: Cond,
    target_cond: Cond,
    *,
    sigmas: torch.Tensor,
    window: tuple[int, int],
    guidance: Guidance,
    fresh_noise: Callable[[], torch.Tensor],
    n_avg: int = 1,
    callback: StepCallback | None = None,
) -> torch.Tensor | None:
    """FlowEdit from ``source`` latents over steps ``window = (n_min, n_max)``; None when interrupted.

    With ``n_avg > 1`` each edit step averages the velocity difference over ``n_avg`` fresh noise draws;
    every draw starts from the same APG momentum, which then advances once, by the average.
    """
    den.pipe._interrupt = False
    source_cond, target_cond = align(source_cond, target_cond)  # same shapes: identical rows stay identical
    n_min, n_max = window
    src_momentum, tar_momentum = den.momentum(guidance), den.momentum(guidance)
    z = source
    x: torch.Tensor | None = None
    for i in range(n_min, len(sigmas) - 1):
        t = float(sigmas[i])
        dt = sigmas[i + 1] - sigmas[i]
        if i < n_max:
            v_src, v_tar = _averaged_velocities(
                den,
                source,
                z,
                t,
                sigmas[i],
                (source_cond, target_cond),
                context,
                guidance,
                (src_momentum, tar_momentum),
                fresh_noise,
                n_avg,
            )
            z = z + dt * (v_tar - v_src)
        else:
            if x is None:
                x = z + sigmas[i] * (fresh_noise() - source)
            x = x + dt * den.guided(x, t, target_cond, context, guidance, tar_momentum)
        if den.end_step(callback, i, t, z if x is None else x):
            return None
    return z if x is None else x


def _averaged_velocities(
    den: Denoiser,
    source: torch.Tensor,
    z: torch.Tensor,
    t: float,
    level: torch.Tensor,
    conds: tuple[Cond, Cond],
    context: torch.Tensor,
    guidance: Guidance,
    momenta: tuple[MomentumBuffer | None, MomentumBuffer | None],
    fresh_noise: Callable[[], torch.Tensor],
    n_avg: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source and target velocities of one FlowEdit step, each the mean of ``n_avg`` noise draws."""
    before: list[Any] = [m.running_average if m is not None else None for m in momenta]
    sums: list[torch.Tensor | None] = [None, None]
    after: list[list[Any]] = [[], []]
    for _ in range(n_avg):
        noised = (1 - level) * source + level * fresh_noise()
        for k, (x, cond) in enumerate(((noised, conds[0]), (noised + (z - source), conds[1]))):
            momentum = momenta[k]
            if momentum is not None:
                momentum.running_average = before[k]
            v = den.guided(x, t, cond, context, guidance, momentum)
            total = sums[k]
            sums[k] = v if total is None else total + v
            if momentum is not None:
                after[k].append(momentum.running_average)
    for k, momentum in enumerate(momenta):
        if momentum is not None:  # advance once, by the mean update of the draws
            momentum.running_average = sum(after[k][1:], after[k][0]) / n_avg if n_avg > 1 else after[k][0]
    v_src, v_tar = sums
    assert v_src is not None and v_tar is not None
    return (v_src / n_avg, v_tar / n_avg) if n_avg > 1 else (v_src, v_tar)
