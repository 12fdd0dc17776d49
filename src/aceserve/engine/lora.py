"""LoRA and LoKr adapters on the DiT: loaded once at start, merged into the weights per batch.

Formats (what ACE-Step 1.5's trainers write, and diffusers' own):

- **PEFT LoRA**: a directory with ``adapter_config.json`` and ``adapter_model.safetensors`` (upstream's
  ``q_proj``/``k_proj``/``v_proj``/``o_proj`` names are mapped onto diffusers' ``to_q``/``to_k``/
  ``to_v``/``to_out.0`` by diffusers' ACE-Step LoRA loader), or one ``.safetensors`` file of
  ``lora_A``/``lora_B`` weights in diffusers' names.
- **LyCORIS LoKr**: ``lokr_weights.safetensors`` (or a directory holding it), keys
  ``lycoris_<module path with _>.lokr_w1`` / ``lokr_w2`` (or their ``_a``/``_b`` factors) and
  ``.alpha``; the LoKr settings ride in the file's ``lokr_config`` metadata.

Both go through PEFT: each adapter is injected into the transformer as a PEFT LoRA or LoKr layer,
its weights are copied in, and the layers are taken out again and kept, so the transformer stays
plain (and compiled graphs stay valid). A LoKr layer gets LyCORIS's scale (``alpha / dim``; 1 when
both Kronecker factors are full matrices), which PEFT would compute differently.

Per batch ``AdapterSet.apply(name, scale)`` sets every targeted weight to ``W0 + scale * delta``
(``delta`` from the PEFT layer) or back to ``W0``, from an untouched copy of the originals, so the
base model's output after an adapter batch is bit-identical to before. The engine batches only
tasks with the same adapter and scale.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from aceserve.domain.adapters import AdapterSpec

log = logging.getLogger(__name__)

LOKR_FILE = "lokr_weights.safetensors"
PEFT_CONFIG = "adapter_config.json"
PEFT_WEIGHTS = "adapter_model.safetensors"
# ACE-Step 1.5's module names for the attention projections, by diffusers' names.
UPSTREAM_NAMES = {"to_q": "q_proj", "to_k": "k_proj", "to_v": "v_proj", "to_out.0": "o_proj"}


class AdapterLoadError(Exception):
    """An adapter could not be loaded; the message names it, its path and the reason."""


@dataclass
class Adapter:
    name: str
    source: str
    kind: str  # "lora" | "lokr"
    layers: dict[str, Any] = field(default_factory=dict)  # module path -> the PEFT layer holding it

    @property
    def key(self) -> str:
        """The name PEFT keeps it under (adapter names may hold dots, which PEFT's dicts cannot)."""
        return "aceserve_" + self.name.replace(".", "_dot_")

    def delta(self, path: str) -> torch.Tensor:
        delta: torch.Tensor = self.layers[path].get_delta_weight(self.key)
        return delta


class AdapterSet:
    """The adapters of one transformer, and which one its weights hold now."""

    def __init__(self, transformer: Any, specs: Mapping[str, AdapterSpec]) -> None:
        self._transformer = transformer
        self.adapters: dict[str, Adapter] = {}
        for spec in specs.values():
            try:
                self.adapters[spec.name] = load_adapter(transformer, spec)
            except AdapterLoadError:
                raise
            except Exception as exc:
                raise AdapterLoadError(
                    f"Adapter {spec.name!r} from {spec.source} could not be loaded: {type(exc).__name__}: {exc}"
                ) from exc
        paths = sorted({path for adapter in self.adapters.values() for path in adapter.layers})
        self._originals = {path: transformer.get_submodule(path).weight.detach().clone() for path in paths}
        self._current: tuple[str, float] = ("", 0.0)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    def apply(self, name: str, scale: float) -> None:
        """Make the weights hold ``name`` at ``scale`` (``""``: the base model)."""
        wanted = (name, float(scale)) if name and scale > 0 else ("", 0.0)
        if wanted == self._current:
            return
        if name and name not in self.adapters:
            raise KeyError(name)
        with torch.no_grad():
            for path, original in self._originals.items():
                self._transformer.get_submodule(path).weight.copy_(original)
            if wanted[0]:
                adapter = self.adapters[wanted[0]]
                for path in adapter.layers:
                    weight = self._transformer.get_submodule(path).weight
                    merged = self._originals[path].float() + wanted[1] * adapter.delta(path).float()
                    weight.copy_(merged.to(weight.dtype))
        self._current = wanted


def load_adapter(transformer: Any, spec: AdapterSpec) -> Adapter:
    """Read one adapter (local path or hub id) into PEFT layers kept beside ``transformer``."""
    path = _local(spec)
    lokr = _lokr_file(path)
    if lokr is not None:
        return _load_lokr(transformer, spec, lokr)
    return _load_lora(transformer, spec, path)


def _local(spec: AdapterSpec) -> Path:
    path = Path(spec.source).expanduser()
    if path.exists():
        return path
    if spec.source.startswith((".", "/", "~")) or spec.source.count("/") != 1:
        raise AdapterLoadError(f"Adapter {spec.name!r}: {spec.source} does not exist.")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(spec.source))
    except Exception as exc:
        raise AdapterLoadError(
            f"Adapter {spec.name!r}: {spec.source} is neither a local path nor a reachable hub repository "
            f"({type(exc).__name__}: {exc})."
        ) from exc


def _lokr_file(path: Path) -> Path | None:
    if path.is_dir():
        return path / LOKR_FILE if (path / LOKR_FILE).is_file() else None
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            if any(".lokr_w" in key for key in handle.keys()):  # noqa: SIM118 - safe_open has no __iter__
                return path
    return None


def _linear_paths(transformer: Any) -> dict[str, str]:
    """Flattened module names (``layers_0_self_attn_q_proj`` and diffusers' ``..._to_q``) -> module path."""
    names: dict[str, str] = {}
    for path, module in transformer.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        names[path.replace(".", "_")] = path
        upstream = path
        for ours, theirs in UPSTREAM_NAMES.items():
            if upstream.endswith("." + ours):
                upstream = upstream[: -len(ours)] + theirs
        names[upstream.replace(".", "_")] = path
    return names


def _detach(transformer: Any, paths: list[str], adapter: Adapter) -> None:
    """Take the PEFT layers out of the transformer again, keeping them in ``adapter``."""
    for path in paths:
        layer = transformer.get_submodule(path)
        parent_path, _, child = path.rpartition(".")
        parent = transformer.get_submodule(parent_path) if parent_path else transformer
        setattr(parent, child, layer.get_base_layer())
        layer.requires_grad_(False)
        adapter.layers[path] = layer
    configs = getattr(transformer, "peft_config", None)
    if isinstance(configs, dict):
        configs.pop(adapter.key, None)
        if not configs:
            del transformer.peft_config


def _load_lora(transformer: Any, spec: AdapterSpec, path: Path) -> Adapter:
    from diffusers import AceStepPipeline
    from peft import LoraConfig, inject_adapter_in_model
    from safetensors.torch import load_file

    config: dict[str, Any] = {}
    if path.is_dir():
        weights = path / PEFT_WEIGHTS
        if (path / PEFT_CONFIG).is_file():
            config = json.loads((path / PEFT_CONFIG).read_text())
        if not weights.is_file():
            found = sorted(path.glob("*.safetensors"))
            if len(found) != 1:
                raise AdapterLoadError(
                    f"Adapter {spec.name!r}: {path} holds neither {PEFT_WEIGHTS} nor {LOKR_FILE} "
                    "nor exactly one .safetensors file."
                )
            weights = found[0]
    else:
        weights = path
    raw = load_file(str(weights))
    state = AceStepPipeline.lora_state_dict(dict(raw))  # upstream names -> diffusers', "transformer." prefix
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = key.removeprefix("transformer.")
        for part in ("lora_A", "lora_B"):
            marker = f".{part}."
            if marker in key:
                modules.setdefault(key.split(marker)[0], {})[part] = value
    if not modules:
        raise AdapterLoadError(f"Adapter {spec.name!r}: {weights} holds no LoRA weights (lora_A/lora_B).")
    missing = [p for p in modules if p not in dict(transformer.named_modules())]
    if missing:
        raise AdapterLoadError(f"Adapter {spec.name!r}: {weights} targets modules this DiT lacks: {missing[:3]}")
    ranks = {p: int(w["lora_A"].shape[0]) for p, w in modules.items()}
    rank = int(config.get("r") or max(ranks.values()))
    alpha: Any = config.get("lora_alpha") or rank
    alpha_pattern = {p: float(a) for p, a in (config.get("alpha_pattern") or {}).items()}
    lora_config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=sorted(modules),
        rank_pattern={f"^{p}$": r for p, r in ranks.items() if r != rank},
        alpha_pattern=alpha_pattern,
        use_rslora=bool(config.get("use_rslora", False)),
        init_lora_weights=False,
    )
    adapter = Adapter(name=spec.name, source=spec.source, kind="lora")
    inject_adapter_in_model(lora_config, transformer, adapter_name=adapter.key)
    try:
        with torch.no_grad():
            for module_path, weights_of in modules.items():
                layer = transformer.get_submodule(module_path)
                for part in ("lora_A", "lora_B"):
                    target = getattr(layer, part)[adapter.key].weight
                    if part not in weights_of or target.shape != weights_of[part].shape:
                        raise AdapterLoadError(
                            f"Adapter {spec.name!r}: {module_path}.{part} should be {tuple(target.shape)}, "
                            f"{weights} has {tuple(weights_of[part].shape) if part in weights_of else 'nothing'}."
                        )
                    target.copy_(weights_of[part].to(target.dtype))
    finally:
        _detach(transformer, sorted(modules), adapter)
    return adapter


def _load_lokr(transformer: Any, spec: AdapterSpec, file: Path) -> Adapter:
    from peft import LoKrConfig, inject_adapter_in_model
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as handle:
        metadata = handle.metadata() or {}
        raw = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    settings = json.loads(metadata.get("lokr_config") or "{}")
    factor = int(settings.get("factor", -1))
    linear_dim = settings.get("linear_dim")
    names = _linear_paths(transformer)
    modules: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in raw.items():
        prefix, _, part = key.rpartition(".")
        module = prefix.removeprefix("lycoris_")
        if module not in names:
            raise AdapterLoadError(f"Adapter {spec.name!r}: {file} targets {prefix!r}, which this DiT lacks.")
        modules.setdefault(names[module], {})[part] = value
    unsupported = {part for parts in modules.values() for part in parts} & {"lokr_t2", "dora_scale"}
    if unsupported:
        raise AdapterLoadError(f"Adapter {spec.name!r}: {file} uses {sorted(unsupported)}, which aceserve cannot load.")
    ranks: dict[str, int] = {}
    scales: dict[str, float] = {}
    both: set[str] = set()
    for path, parts in modules.items():
        full_w1, full_w2 = "lokr_w1" in parts, "lokr_w2" in parts
        if not full_w1 and full_w2:
            raise AdapterLoadError(f"Adapter {spec.name!r}: {path} factors w1 but not w2, which PEFT cannot hold.")
        if full_w2:
            ranks[path] = 1_000_000  # a rank this large keeps both factors full in PEFT, as in the file
            dim = float(linear_dim) if linear_dim else None
        else:
            ranks[path] = int(parts["lokr_w2_a"].shape[1])
            dim = float(ranks[path])
            if not full_w1:
                both.add(path)
        alpha = float(parts["alpha"]) if "alpha" in parts else None
        scales[path] = 1.0 if alpha is None or dim is None else alpha / dim
    if both and len(both) != len(modules):
        raise AdapterLoadError(f"Adapter {spec.name!r}: {file} factors w1 in some modules only.")
    adapter = Adapter(name=spec.name, source=spec.source, kind="lokr")
    config = LoKrConfig(
        r=8,
        alpha=8,
        target_modules=sorted(modules),
        rank_pattern={f"^{p}$": r for p, r in ranks.items()},
        alpha_pattern={f"^{p}$": float(r) for p, r in ranks.items()},
        decompose_both=bool(both),
        decompose_factor=factor,
        init_weights=False,
    )
    inject_adapter_in_model(config, transformer, adapter_name=adapter.key)
    try:
        with torch.no_grad():
            for path, parts in modules.items():
                layer = transformer.get_submodule(path)
                for part, value in parts.items():
                    if part == "alpha":
                        continue
                    holder = getattr(layer, part, None)
                    target = holder[adapter.key] if holder is not None and adapter.key in holder else None
                    if target is None or target.shape != value.shape:
                        shape = None if target is None else tuple(target.shape)
                        raise AdapterLoadError(
                            f"Adapter {spec.name!r}: {path}.{part} is {tuple(value.shape)} in {file}, but the "
                            f"LoKr layout for this DiT has {shape}."
                        )
                    target.copy_(value.to(target.dtype))
                layer.scaling[adapter.key] = scales[path]
    finally:
        _detach(transformer, sorted(modules), adapter)
    return adapter
