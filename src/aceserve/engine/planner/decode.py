"""Batched, constrained sampling from a causal LM, with classifier-free guidance and per-row seeds.

All rows of a phase (one per task) decode together: prompts are left-padded to one length, with an
attention mask and position ids counted from each row's first real token, and share one KV cache.
A row that runs CFG also has its unconditional prompt in the batch; each step mixes the two rows'
logits as ``uncond + scale * (cond - uncond)`` (in float32, as upstream does), and the token drawn
for the conditional row is appended to both.

Per step and row: the constraint's mask, then top-k, then top-p on the masked logits, then the
temperature, then a draw. The draw is Gumbel-max with the row's own CPU ``torch.Generator``, seeded
with the task's seed: ``argmax(logits / T + g)``, ``g = -log(-log(u))``, which samples the same
distribution as upstream's ``torch.multinomial(softmax(logits / T))`` while drawing from the row's
own stream, so a task's plan does not depend on its batch-mates or on the device. Forced tokens
draw nothing; temperature 0 takes the argmax.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from aceserve.engine.planner.constraint import Constrained, Segment
from aceserve.engine.planner.vocab import Vocabulary


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.85
    top_k: int = 0  # 0: off
    top_p: float = 0.9  # 0 or 1: off
    cfg_scale: float = 2.0  # 1: no guidance


@dataclass(frozen=True)
class Row:
    """One task in one phase."""

    prompt: str
    program: Sequence[Segment]
    sampling: Sampling
    seed: int
    unconditional: str | None = None  # used when ``sampling.cfg_scale > 1``


@dataclass(frozen=True)
class Decoded:
    tokens: list[list[int]]  # generated token ids per row
    seconds: float
    steps: int
    stopped: bool = False  # ``should_stop`` said so before every row was done


def filtered(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Top-k, then top-p, on one row's (constrained) logits; removed tokens get -inf."""
    if sampling.top_k > 0:
        k = min(sampling.top_k, int(logits.shape[-1]))
        kth = torch.topk(logits, k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0.0 < sampling.top_p < 1.0:
        ordered, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(ordered, dim=-1), dim=-1)
        remove = cumulative > sampling.top_p
        remove[1:] = remove[:-1].clone()
        remove[0] = False
        logits = logits.masked_fill(remove.scatter(0, order, remove), float("-inf"))
    return logits


def draw(scores: torch.Tensor, allowed: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> int:
    """One of the ``allowed`` token ids, from their float32 CPU logits ``scores`` (every other token has
    probability 0, so only these are scored and drawn for)."""
    scores = filtered(scores, sampling)
    if sampling.temperature <= 0:
        return int(allowed[int(torch.argmax(scores))])
    uniform = torch.rand(scores.shape, generator=generator, dtype=torch.float32).clamp_(1e-10, 1.0 - 1e-7)
    gumbel = -torch.log(-torch.log(uniform))
    return int(allowed[int(torch.argmax(scores / sampling.temperature + gumbel))])


SMALL_LM_PARAMETERS = 100_000_000


@contextmanager
def _threads(model: Any, device: torch.device) -> Iterator[None]:
    """One CPU thread for a small LM on the CPU: its per-step operations are so small that
    splitting them over threads costs more than it saves (on a busy 2-core machine, 50 times more)."""
    small = sum(p.numel() for p in model.parameters()) < SMALL_LM_PARAMETERS
    before = torch.get_num_threads()
    if device.type == "cpu" and small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Decoder:
    def __init__(self, model: Any, tokenizer: Any, vocab: Vocabulary, device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.device = device

    def run(
        self,
        rows: Sequence[Row],
        should_stop: Callable[[], bool] | None = None,
        on_step: Callable[[int], None] | None = None,
    ) -> Decoded:
        """Decode every row to the end of its program; ``should_stop`` is polled every 16 steps and
        ``on_step`` told the steps done after each."""
        started = time.perf_counter()
        guided = [i for i, row in enumerate(rows) if row.sampling.cfg_scale > 1.0 and row.unconditional is not None]
        prompts = [row.prompt for row in rows] + [rows[i].unconditional or "" for i in guided]
        encoded = [self.tokenizer(prompt)["input_ids"] for prompt in prompts]
        longest = max(len(ids) for ids in encoded)
        pad = self.vocab.pad
        input_ids = torch.tensor([[pad] * (longest - len(ids)) + list(ids) for ids in encoded], dtype=torch.long)
        mask = torch.tensor([[0] * (longest - len(ids)) + [1] * len(ids) for ids in encoded], dtype=torch.long)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        constraints = [Constrained(row.program, self.vocab) for row in rows]
        generators = [torch.Generator(device="cpu").manual_seed(int(row.seed)) for row in rows]
        tokens: list[list[int]] = [[] for _ in rows]
        cache = DynamicCache(config=self.model.config)
        steps = 0
        stopped = False
        with torch.inference_mode(), _threads(self.model, self.device):
            while not all(c.done for c in constraints):
                if should_stop is not None and steps % 16 == 0 and should_stop():
                    stopped = True
                    break
                out = self.model(
                    input_ids=input_ids,
                    attention_mask=mask,
                    position_ids=positions,
                    cache=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
                logits = out.logits[:, -1, :].float().cpu()
                chosen = self._choose(rows, guided, constraints, generators, logits)
                for i, token in enumerate(chosen):
                    if not constraints[i].done:
                        constraints[i].advance(token)
                        tokens[i].append(token)
                step = chosen + [chosen[i] for i in guided]
                input_ids = torch.tensor(step, dtype=torch.long, device=self.device).unsqueeze(1)
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                positions = positions[:, -1:] + 1
                steps += 1
                if on_step is not None:
                    on_step(steps)
        return Decoded(tokens=tokens, seconds=time.perf_counter() - started, steps=steps, stopped=stopped)

    def _choose(
        self,
        rows: Sequence[Row],
        guided: list[int],
        constraints: list[Constrained],
        generators: list[torch.Generator],
        logits: torch.Tensor,
    ) -> list[int]:
        unconditional = {row: len(rows) + k for k, row in enumerate(guided)}
        chosen: list[int] = []
        for i, row in enumerate(rows):
            constraint = constraints[i]
            if constraint.done:
                chosen.append(self.vocab.pad)
                continue
            allowed = constraint.allowed()
            if isinstance(allowed, int):
                chosen.append(allowed)
                continue
            scores = logits[i, allowed]
            if i in unconditional:
                base = logits[unconditional[i], allowed]
                scores = base + row.sampling.cfg_scale * (scores - base)
            chosen.append(draw(scores, allowed, row.sampling, generators[i]))
        return chosen
