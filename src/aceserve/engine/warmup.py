"""``torch.compile`` of the DiT, and a warm-up that compiles every graph the batcher can need.

The compiled DiT is ``transformer.compile(dynamic=True)``: batch, latent frames and condition length
are symbolic, so one graph serves every size of a shape class. What still splits graphs (each split
costs a compilation, 18 to 26 s seen on CPU, mid-request if the warm-up missed it):

- **batch 1 or more**: torch specialises a dimension of size 1, so the DiT seeing one row and the DiT
  seeing two or more are two graphs. The DiT sees the tasks of a batch (1 to ``max_batch_size``), twice
  over under classifier-free guidance (conditional and unconditional halves: 2 to ``2 * max``).
- **cross-attention mask or none**: ``conditioning.CrossAttentionMask`` hands every cross-attention layer
  a key-padding mask when the batch's conditions differ in length (tasks with different prompts, a
  negative prompt under CFG, FlowEdit's source and target), and none when they agree; the two are two
  graphs. A single row is unmasked except in FlowEdit without CFG (base/sft at ``guidance_scale <= 1``),
  whose source and target conditions are padded to one width with a mask.
- **odd or even frames** would be a third split (the DiT pads to its patch size with a Python branch on
  ``T % patch_size``); ``sampler.Denoiser.velocity`` pads to whole patches itself, with the same zeros,
  so the DiT only ever sees whole patches and this split is gone.

Everything else a task varies (task type, repaint and extend masks in the context latents, steps,
cover switches, adapters merged into the weights) changes values, not shapes or guards.

``warmup_plan`` lists, for the variant and ``max_batch_size``, each class the batcher can produce with
the smallest and the largest batch and an odd and an even frame count; ``run_warmup`` calls the DiT
once per entry, through the same ``Denoiser.velocity`` the sampler uses, with short random inputs
(the graphs do not depend on values). ``CompileWatch`` is the compile backend wrapper that counts the
graphs and logs a warning for any compiled after the warm-up. Example sizes avoid the DiT's own
dimensions (channels, heads): torch gives equal sizes one symbol when it compiles, and a batch of 2
beside 2 latent channels would tie the batch to the channel count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import torch

from aceserve.engine.conditioning import Cond
from aceserve.engine.sampler import Denoiser

log = logging.getLogger(__name__)

DEFAULT_BACKEND = "inductor"
MIN_FRAMES = 10  # even; smallest example length (latent frames); real tasks use 250 and more, or a short input's own
MIN_CONDITION = 5  # smallest example condition length (tokens)
_COMPILED = 0  # transformers compiled in this process (each needs its own graphs under the recompile limit)
_COMPILED_LOCK = threading.Lock()


@dataclass(frozen=True)
class WarmupShape:
    """One DiT call of the warm-up."""

    batch: int  # rows the DiT sees (tasks, doubled under CFG)
    frames: int  # latent frames before padding to whole patches
    masked: bool  # a cross-attention key-padding mask is passed
    why: str  # which requests make this shape

    @property
    def shape_class(self) -> tuple[bool, bool]:
        """What splits graphs: (more than one row, masked)."""
        return (self.batch > 1, self.masked)


@dataclass(frozen=True)
class WarmupReport:
    shapes: int
    classes: int
    graphs: int  # graphs compiled during the warm-up (counted by ``CompileWatch``)
    seconds: float


def _free(start: int, taken: Collection[int], step: int = 1) -> int:
    value = start
    while value in taken:
        value += step
    return value


def model_sizes(transformer: Any) -> set[int]:
    """Sizes the DiT's inputs hold (channels, heads, window): the examples keep clear of them."""
    config = dict(transformer.config)
    sizes = {v for v in config.values() if isinstance(v, int) and not isinstance(v, bool)}
    return sizes | {2 * int(config["audio_acoustic_hidden_dim"])}  # the context latents' channels


def warmup_plan(*, max_batch_size: int, uses_cfg: bool, avoid: Collection[int] = ()) -> list[WarmupShape]:
    """The DiT calls that compile every graph the batcher and sampler can ask for (module docstring).

    ``uses_cfg``: the variant runs classifier-free guidance (base, sft), which also means it can run
    FlowEdit and can run without CFG (``guidance_scale <= 1``); turbo never runs CFG nor FlowEdit.
    """
    if max_batch_size < 1:
        raise ValueError(f"`max_batch_size` must be at least 1, got {max_batch_size!r}.")
    taken = set(avoid)
    even = _free(MIN_FRAMES, taken, step=2)
    odd = _free(even + 1, taken, step=2)
    most = 2 * max_batch_size if uses_cfg else max_batch_size
    plan: list[WarmupShape] = [
        WarmupShape(1, even, False, "one task without CFG"),
        WarmupShape(1, odd, False, "one task without CFG, odd frames"),
    ]
    if uses_cfg:
        plan += [
            WarmupShape(1, even, True, "FlowEdit, one task without CFG: source and target padded to one width"),
            WarmupShape(1, odd, True, "FlowEdit, one task without CFG, odd frames"),
        ]
    if most >= 2:
        fewest = _free(2, taken | {even, odd})
        fewest = fewest if fewest <= most else 2
        rows = "tasks, doubled under CFG" if uses_cfg else "tasks"
        plan += [
            WarmupShape(fewest, even, False, f"{rows}: conditions of one length"),
            WarmupShape(most, odd, False, f"{rows}: conditions of one length, the largest batch, odd frames"),
            WarmupShape(fewest, odd, True, f"{rows}: conditions of different lengths (masked)"),
            WarmupShape(most, even, True, f"{rows}: masked, the largest batch"),
        ]
    return plan


class CompileWatch:
    """A ``torch.compile`` backend that counts the graphs it compiles and hands them to ``backend``.

    After ``seal()`` (the warm-up is done) each new graph is logged as a warning: a request is waiting
    for a compilation the warm-up should have paid.
    """

    def __init__(self, backend: str = DEFAULT_BACKEND) -> None:
        self.backend = backend
        self.graphs = 0
        self.after_warmup = 0
        self._sealed = False
        self._compile: Callable[..., Any] = torch._dynamo.lookup_backend(backend)

    def __call__(self, graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
        self.graphs += 1
        if self._sealed:
            self.after_warmup += 1
            shapes = [tuple(x.shape) for x in example_inputs if isinstance(x, torch.Tensor) and x.ndim == 3]
            log.warning(
                "the DiT compiled graph %d after the warm-up (inputs %s): a shape the warm-up did not cover; "
                "this batch waits for the compilation",
                self.graphs,
                shapes,
            )
        return self._compile(graph, example_inputs)

    def seal(self) -> None:
        self._sealed = True


def compile_transformer(transformer: Any, backend: str = DEFAULT_BACKEND) -> CompileWatch:
    """Compile the DiT with dynamic shapes through a ``CompileWatch`` on ``backend``.

    Dynamo keeps at most ``recompile_limit`` graphs per function for all modules of a class together, and
    runs the rest uncompiled; the limit is raised so each compiled DiT in the process has room for its
    warm-up's graphs.
    """
    global _COMPILED
    watch = CompileWatch(backend)
    with _COMPILED_LOCK:
        _COMPILED += 1
        config = torch._dynamo.config
        config.recompile_limit = max(int(config.recompile_limit), 8 * _COMPILED)
    transformer.compile(dynamic=True, backend=watch)
    return watch


def run_warmup(denoiser: Denoiser, plan: list[WarmupShape], watch: CompileWatch | None = None) -> WarmupReport:
    """Call the DiT once for each planned shape (1 step, random inputs); ``watch`` is sealed afterwards."""
    transformer = denoiser.pipe.transformer
    config = transformer.config
    channels = int(config.audio_acoustic_hidden_dim)
    width = int(getattr(config, "encoder_hidden_size", None) or config.hidden_size)
    dtype = transformer.dtype
    device = denoiser.device
    taken = model_sizes(transformer) | {s.batch for s in plan} | {s.frames for s in plan}
    length = _free(MIN_CONDITION, taken)
    generator = torch.Generator(device="cpu").manual_seed(0)
    before = watch.graphs if watch is not None else 0
    start = time.perf_counter()
    with torch.no_grad():
        for shape in plan:
            rows, frames = shape.batch, shape.frames
            x = torch.randn((rows, frames, channels), generator=generator).to(device)
            context = torch.randn((rows, frames, 2 * channels), generator=generator).to(device=device, dtype=dtype)
            hidden = torch.randn((rows, length, width), generator=generator).to(device=device, dtype=dtype)
            mask = None
            if shape.masked:  # a real padding mask: the last row is one token shorter
                mask = torch.ones((rows, length), dtype=torch.bool, device=device)
                mask[-1, -1] = False
            denoiser.velocity(x, 0.5, Cond(hidden, mask), context)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if watch is not None:
        watch.seal()
    graphs = (watch.graphs - before) if watch is not None else 0
    return WarmupReport(
        shapes=len(plan), classes=len({s.shape_class for s in plan}), graphs=graphs, seconds=round(seconds, 3)
    )
