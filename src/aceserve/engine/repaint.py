"""Section repaint (``edit`` with ``repaint_start``/``repaint_end``): regenerate one span of a song.

How it runs, following ACE-Step 1.5's repaint:

1. The source is VAE-encoded; the span's latent frames ``[floor(start / hop), ceil(end / hop))`` are
   masked for generation: the DiT context holds silence there (the source elsewhere) and a chunk
   mask of 1 there, under the ``repaint`` instruction, with ``edit_style_prompt`` and ``edit_lyrics``.
2. Sampling starts from noise. For the first half of the steps (``REPAINT_INJECTION_RATIO``) every
   frame outside the span is replaced after each step by the source noised to the next level, so
   the span grows out of the real surroundings; the second half runs free.
3. The final latents are blended with the source over ``REPAINT_CROSSFADE_FRAMES`` (10) frames on
   each side of the span (``blend_boundary``), as upstream does.

Then one step further than upstream: after decoding, every sample outside the span is the input's
own sample, bit for bit (``splice_section``), and inside the span the first and last 40 ms crossfade
from the original into the regenerated audio, so the seams never jump.
"""

from __future__ import annotations

import numpy as np
import torch

from aceserve.engine.audio import SEAM_SAMPLES
from aceserve.engine.types import Audio


def section_mask(frames: int, span: tuple[int, int], device: torch.device) -> torch.Tensor:
    """``(1, frames, 1)`` bool, True on the frames ``[span[0], span[1])`` that are generated."""
    mask = torch.zeros((1, frames, 1), dtype=torch.bool, device=device)
    mask[:, span[0] : span[1]] = True
    return mask


def _ramp_inside(length: int, rising: bool, device: torch.device) -> torch.Tensor:
    """``length`` weights strictly between 0 and 1, evenly spaced (both ends excluded)."""
    ramp = torch.linspace(0.0, 1.0, length + 2, device=device)[1:-1]
    return ramp if rising else ramp.flip(0)


def soft_mask(keep: torch.Tensor, crossfade: int) -> torch.Tensor:
    """Per frame, how much of the generated latents to take: 1 on the generated span, a linear ramp
    over ``crossfade`` frames outside each of its ends, 0 elsewhere. ``keep`` is ``(B, T, 1)`` bool."""
    generate = (~keep[..., 0]).float()
    out = generate.clone()
    frames = generate.shape[1]
    for row in range(generate.shape[0]):
        inside = torch.nonzero(generate[row]).flatten()
        if inside.numel() in (0, frames):
            continue
        left, right = int(inside[0]), int(inside[-1]) + 1
        fade_start, fade_end = max(left - crossfade, 0), min(right + crossfade, frames)
        if left > fade_start:
            out[row, fade_start:left] = _ramp_inside(left - fade_start, True, keep.device)
        if fade_end > right:
            out[row, right:fade_end] = _ramp_inside(fade_end - right, False, keep.device)
    return out.unsqueeze(-1)


def blend_boundary(latents: torch.Tensor, source: torch.Tensor, keep: torch.Tensor, crossfade: int) -> torch.Tensor:
    """Upstream's boundary blend: generated latents on the span, the source's elsewhere, ramped between."""
    weight = soft_mask(keep, crossfade)
    return weight * latents + (1 - weight) * source


def splice_section(decoded: Audio, source: Audio, span: tuple[int, int]) -> Audio:
    """The source with ``[start, end)`` replaced by the decoded audio; samples outside are the source's own.

    The first and last ``SEAM_SAMPLES`` (40 ms, at most half the span) of the span crossfade (raised
    cosine) from the original samples into the decoded ones and back.
    """
    start, end = span
    out = np.array(source, dtype=np.float32, copy=True)
    region = np.array(decoded[:, start:end], dtype=np.float32, copy=True)
    n = min(SEAM_SAMPLES, (end - start) // 2)
    if n:
        k = np.arange(1, n + 1, dtype=np.float64)
        rising = (0.5 * (1.0 - np.cos(np.pi * k / (n + 1)))).astype(np.float32)
        if start > 0:
            region[:, :n] = rising * region[:, :n] + (1 - rising) * source[:, start : start + n]
        if end < source.shape[1]:
            falling = rising[::-1]
            region[:, -n:] = falling * region[:, -n:] + (1 - falling) * source[:, end - n : end]
    out[:, start:end] = region
    return out
