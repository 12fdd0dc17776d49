"""Build an ``AceStepPipeline`` with random weights from the real classes, at any size.

``TINY`` is the checkpoint ``aceserve model make-tiny`` writes (a few hundred kB of weights; a 10 s
txt2audio task takes a fraction of a second on two CPU cores). ``FULL_TURBO`` is the default ACE-Step
1.5 turbo geometry (2B DiT, Qwen3-Embedding-0.6B text encoder, 48 kHz Oobleck VAE at 25 latent frames
per second), for benchmarks without weights. Both keep the model's audio contract: 48 kHz stereo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from aceserve.domain.limits import CHANNELS, SAMPLE_RATE

SILENCE_FRAMES = 15_000  # frames of the condition encoder's silence latent (600 s at 25 Hz)


@dataclass(frozen=True)
class Dims:
    latent_channels: int
    vae_encoder_hidden: int
    vae_decoder_channels: int
    vae_ratios: tuple[int, ...]
    vae_multiples: tuple[int, ...]
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    sliding_window: int
    lyric_layers: int
    timbre_layers: int
    pooler_layers: int
    text_hidden: int
    text_intermediate: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_head_dim: int
    text_vocab: int | None  # None: the tokenizer's size


TINY = Dims(
    latent_channels=2,  # the VAE's full-rate layers are the tiny model's main cost: keep them narrow
    vae_encoder_hidden=4,
    vae_decoder_channels=2,
    vae_ratios=(8, 12, 20),  # hop 1920: 25 latent frames per second, like the real VAE
    vae_multiples=(1, 1, 1),
    hidden=32,
    intermediate=64,
    layers=2,
    heads=2,
    kv_heads=1,
    head_dim=16,
    sliding_window=16,
    lyric_layers=1,
    timbre_layers=1,
    pooler_layers=1,
    text_hidden=16,
    text_intermediate=32,
    text_layers=1,
    text_heads=2,
    text_kv_heads=1,
    text_head_dim=8,
    text_vocab=None,
)

FULL_TURBO = Dims(
    latent_channels=64,
    vae_encoder_hidden=128,
    vae_decoder_channels=128,
    vae_ratios=(2, 4, 4, 6, 10),
    vae_multiples=(1, 2, 4, 8, 16),
    hidden=2048,
    intermediate=6144,
    layers=24,
    heads=16,
    kv_heads=8,
    head_dim=128,
    sliding_window=128,
    lyric_layers=8,
    timbre_layers=4,
    pooler_layers=2,
    text_hidden=1024,
    text_intermediate=3072,
    text_layers=28,
    text_heads=16,
    text_kv_heads=8,
    text_head_dim=128,
    text_vocab=151_669,
)


def build_pipeline(dims: Dims, tokenizer: Any, *, variant: str = "turbo", seed: int = 0) -> Any:
    """Random-weight ``AceStepPipeline`` with every component; deterministic for a given ``seed``."""
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import (
        AceStepAudioTokenDetokenizer,
        AceStepAudioTokenizer,
        AceStepConditionEncoder,
    )
    from transformers import Qwen3Config, Qwen3Model

    shared = {
        "hidden_size": dims.hidden,
        "intermediate_size": dims.intermediate,
        "num_attention_heads": dims.heads,
        "num_key_value_heads": dims.kv_heads,
        "head_dim": dims.head_dim,
        "sliding_window": dims.sliding_window,
    }
    torch.manual_seed(seed)
    vae: Any = AutoencoderOobleck(
        encoder_hidden_size=dims.vae_encoder_hidden,
        downsampling_ratios=list(dims.vae_ratios),
        channel_multiples=list(dims.vae_multiples),
        decoder_channels=dims.vae_decoder_channels,
        decoder_input_channels=dims.latent_channels,
        audio_channels=CHANNELS,
        sampling_rate=SAMPLE_RATE,
    )
    torch.manual_seed(seed + 1)
    text_encoder: Any = Qwen3Model(
        Qwen3Config(
            vocab_size=dims.text_vocab or len(tokenizer),
            hidden_size=dims.text_hidden,
            intermediate_size=dims.text_intermediate,
            num_hidden_layers=dims.text_layers,
            num_attention_heads=dims.text_heads,
            num_key_value_heads=dims.text_kv_heads,
            head_dim=dims.text_head_dim,
            max_position_embeddings=32_768,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
            tie_word_embeddings=True,
        )
    )
    torch.manual_seed(seed + 2)
    transformer: Any = AceStepTransformer1DModel(
        **shared,
        num_hidden_layers=dims.layers,
        in_channels=3 * dims.latent_channels,
        audio_acoustic_hidden_dim=dims.latent_channels,
        is_turbo=variant == "turbo",
        model_version=variant,
    )
    torch.manual_seed(seed + 3)
    condition_encoder: Any = AceStepConditionEncoder(
        **shared,
        text_hidden_dim=dims.text_hidden,
        timbre_hidden_dim=dims.latent_channels,
        num_lyric_encoder_hidden_layers=dims.lyric_layers,
        num_timbre_encoder_hidden_layers=dims.timbre_layers,
    )
    condition_encoder.silence_latent.copy_(_silence_latent(vae, SILENCE_FRAMES))
    torch.manual_seed(seed + 4)
    audio_tokenizer: Any = AceStepAudioTokenizer(
        **shared,
        audio_acoustic_hidden_dim=dims.latent_channels,
        fsq_dim=dims.hidden,
        num_attention_pooler_hidden_layers=dims.pooler_layers,
    )
    torch.manual_seed(seed + 5)
    detokenizer: Any = AceStepAudioTokenDetokenizer(
        **shared,
        audio_acoustic_hidden_dim=dims.latent_channels,
        num_attention_pooler_hidden_layers=dims.pooler_layers,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    for module in (vae, text_encoder, transformer, condition_encoder, audio_tokenizer, detokenizer):
        module.train(False)
    return AceStepPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        condition_encoder=condition_encoder,
        scheduler=scheduler,
        audio_tokenizer=audio_tokenizer,
        audio_token_detokenizer=detokenizer,
    )


@torch.no_grad()
def _silence_latent(vae: Any, frames: int) -> torch.Tensor:
    """What the VAE makes of digital silence, tiled to ``(1, frames, D)`` (a real checkpoint ships one)."""
    hop = int(vae.hop_length)
    chunk = vae.encode(torch.zeros(1, 2, 8 * hop)).latent_dist.mean  # (1, D, 8)
    middle: torch.Tensor = chunk[:, :, 4:5].transpose(1, 2)  # away from the convolutions' zero-padded edges
    return middle.expand(1, frames, -1).clone()
