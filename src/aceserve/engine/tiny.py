"""The tiny checkpoint: every ``AceStepPipeline`` component, random and small, saved like real weights.

``make_tiny_checkpoint(DIR)`` builds the transformer, condition encoder, VAE, Qwen3 text encoder,
audio tokenizer and detokenizer, scheduler, and a byte-level BPE tokenizer trained on the spot with
the ``tokenizers`` library (nothing is downloaded), then ``save_pretrained(DIR)``; and the tiny 5 Hz
LM planner in ``DIR/lm``. Loading it goes
through ``AceStepPipeline.from_pretrained`` exactly like a real checkpoint. It makes noise, not music.
Two builds are byte-identical (seeded torch, deterministic tokenizer training).

Run ``python -m aceserve.engine.tiny DIR [--variant turbo|base|sft]`` to write one by hand.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from aceserve.engine.architecture import TINY, build_pipeline
from aceserve.engine.planner.load import LM_SUBDIRECTORY
from aceserve.engine.quiet import quiet_known_warnings
from aceserve.engine.tiny_tokenizer import train_byte_level_bpe

TOKENIZER_VOCAB = 512
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"

# A small corpus in the shape of what the pipeline feeds its tokenizer: the SFT prompt template,
# metadata lines, section-tagged lyrics. Enough for merges that keep prompts short; any text still
# tokenizes, byte by byte if need be.
_CORPUS = [
    "# Instruction\nFill the audio semantic mask based on the given conditions:\n\n# Caption\n",
    "# Instruction\nGenerate audio semantic tokens based on the given conditions:\n\n# Caption\n",
    "# Instruction\nRepaint the mask area based on the given conditions:\n\n# Caption\n",
    "# Metas\n- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n",
    "# Languages\nunknown\n\n# Lyric\n[Instrumental]<|endoftext|>",
    "# Languages\nen\n\n# Lyric\n[verse]\nthe night is young and the city lights are bright\n",
    "[chorus]\nsing it loud, sing it proud, we are dancing in the crowd\n[bridge]\n[outro]\n[intro]\n",
    "upbeat pop, electronic dance music, 120 bpm, female vocals, synthesizer, drums, bass guitar",
    "calm piano ballad, acoustic guitar, strings, melancholic, lo-fi hip hop, jazz, rock, metal",
    "cinematic orchestral soundtrack, ambient pad, warm analog synth, energetic, happy, sad mood",
]


def build_tokenizer() -> Any:
    """A ``PreTrainedTokenizerFast`` with a byte-level BPE trained here on ``_CORPUS``."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_byte_level_bpe(_CORPUS, vocab_size=TOKENIZER_VOCAB, special_tokens=[EOS_TOKEN, PAD_TOKEN])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, model_max_length=4096
    )


def make_tiny_checkpoint(directory: Path, *, variant: str = "turbo", lm: bool = True) -> None:
    """Write the tiny checkpoint to ``directory`` (created if needed) with ``save_pretrained``.

    ``variant`` (turbo, base or sft) is recorded in the transformer config as real checkpoints do;
    base and sft run classifier-free guidance. ``lm`` also writes the tiny 5 Hz LM planner into
    ``directory/lm`` (``planner/tiny_lm.py``), which the loader then takes by default.
    """
    if variant not in ("turbo", "base", "sft"):
        raise ValueError(f"`variant` must be one of turbo, base, sft; got {variant!r}.")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_known_warnings():
        pipe = build_pipeline(TINY, build_tokenizer(), variant=variant)
    quiet = logging.getLogger("diffusers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        pipe.save_pretrained(directory)
    finally:
        quiet.setLevel(level)
    if lm:
        from aceserve.engine.planner.tiny_lm import make_tiny_lm

        make_tiny_lm(directory / LM_SUBDIRECTORY)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the tiny random ACE-Step 1.5 checkpoint.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--variant", default="turbo", choices=["turbo", "base", "sft"])
    parser.add_argument("--no-lm", action="store_true", help="Leave out the tiny 5 Hz LM planner.")
    args = parser.parse_args(argv)
    make_tiny_checkpoint(args.directory, variant=args.variant, lm=not args.no_lm)
    print(f"wrote the tiny {args.variant} checkpoint to {args.directory}")


if __name__ == "__main__":
    main()
