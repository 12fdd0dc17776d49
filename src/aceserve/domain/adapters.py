"""LoRA/LoKr adapters by name: the ``--lora NAME=PATH`` list, and the rule a task's ``lora`` follows.

The server loads its adapters at start (``engine/lora.py``); a task names one with ``input.lora`` and
sets its strength with ``input.lora_scale``. Both halves of a deployment read the same list: the API
to refuse an unknown name with a 400, the worker to load the weights.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aceserve.domain.errors import InvalidInput
from aceserve.domain.inputs_fields import show
from aceserve.domain.inputs_models import MAX_ADAPTER_NAME_CHARS, TaskInput

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class AdapterSpec:
    """One ``--lora NAME=PATH_OR_HUB_ID``: the name tasks use and where the weights are."""

    name: str
    source: str


def parse_adapter_spec(text: str) -> AdapterSpec:
    """``NAME=PATH_OR_HUB_ID``; raises ``ValueError`` saying what is wrong."""
    name, sep, source = text.partition("=")
    name, source = name.strip(), source.strip()
    if not sep or not name or not source:
        raise ValueError(f"--lora takes NAME=PATH_OR_HUB_ID; got {text!r}")
    if len(name) > MAX_ADAPTER_NAME_CHARS or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"--lora name {name!r} must be letters, digits, '.', '_' or '-' (starting with a letter or digit), "
            f"at most {MAX_ADAPTER_NAME_CHARS} characters"
        )
    return AdapterSpec(name=name, source=source)


def parse_adapter_specs(texts: Iterable[str]) -> dict[str, AdapterSpec]:
    """Every ``--lora`` value by name; a name given twice is an error."""
    specs: dict[str, AdapterSpec] = {}
    for text in texts:
        spec = parse_adapter_spec(text)
        if spec.name in specs:
            raise ValueError(f"--lora name {spec.name!r} is given twice")
        specs[spec.name] = spec
    return specs


def check_adapter(task_input: TaskInput, adapters: Mapping[str, object] | Iterable[str]) -> None:
    """``input.lora`` must name a loaded adapter (or be empty); ``InvalidInput`` (400) otherwise."""
    name = task_input.lora
    if not name:
        return
    names = sorted(adapters)
    if name not in names:
        listed = ", ".join(f"`{n}`" for n in names) if names else "none (start the server with --lora NAME=PATH)"
        raise InvalidInput("input.lora", f"must name an adapter this server loaded: {listed}; got {show(name)}")
