"""The byte-level BPE tokenizers of the tiny checkpoints (the DiT's text encoder and the 5 Hz LM),
trained here on a small corpus: any text still tokenizes, byte by byte if need be."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def train_byte_level_bpe(corpus: Sequence[str], *, vocab_size: int, special_tokens: Sequence[str]) -> Any:
    """A ``tokenizers.Tokenizer`` (byte-level BPE, no prefix space) trained on ``corpus``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(corpus) * 4, trainer=trainer)
    return tokenizer
