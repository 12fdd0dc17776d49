"""A tiny random 5 Hz LM with the real layout: Qwen3 classes, ACE-Step 1.5's special tokens and code vocabulary.

``make_tiny_lm(DIR)`` writes a ``Qwen3ForCausalLM`` (two layers, width 32, embeddings tied: about
8 MB of weights) and a tokenizer with a byte-level BPE trained here on prompt-shaped text (nothing is
downloaded), ChatML specials (``<|im_start|>``, ``<|im_end|>`` as the end token, ``<|endoftext|>`` as
padding), ``<think>`` / ``</think>`` and the 64 000 audio-code tokens, plus a ChatML chat template.
It plans nonsense, well formed: every test runs the real planner path on it. Two builds are
identical (seeded weights, deterministic tokenizer training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aceserve.engine.planner.prompts import INSPIRATION_INSTRUCTION, LM_INSTRUCTION
from aceserve.engine.planner.vocab import AUDIO_CODES, THINK_END, THINK_START, code_token
from aceserve.engine.tiny_tokenizer import train_byte_level_bpe

TEXT_VOCAB = 1024
EOS = "<|im_end|>"
PAD = "<|endoftext|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = [
    f"# Instruction\n{LM_INSTRUCTION}\n\n# Caption\n",
    f"# Instruction\n{INSPIRATION_INSTRUCTION}\n\n",
    "# Lyric\n[verse]\nthe night is young and the city lights are bright\n[chorus]\nsing it loud\n",
    f"{THINK_START}\nbpm: 120\ncaption: An upbeat pop song with bright synths and punchy drums.\nduration: 30\n",
    f"keyscale: C major\nlanguage: en\ntimesignature: 4\n{THINK_END}\n",
    "keyscale: F# minor\nkeyscale: Bb major\nlanguage: zh\nlanguage: ja\ntimesignature: 3\n",
    "a melancholic indie song about leaving home, acoustic guitar, soft female vocals, strings\n",
    "instrumental: false\ninstrumental: true\n[bridge]\n[outro]\n[intro]\n0123456789\n",
]


def build_tokenizer() -> Any:
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    tokenizer = train_byte_level_bpe(_CORPUS, vocab_size=TEXT_VOCAB, special_tokens=[PAD, "<|im_start|>", EOS])
    tokenizer.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in (THINK_START, THINK_END)])
    tokenizer.add_special_tokens(
        [AddedToken(code_token(code), special=True, normalized=False) for code in range(AUDIO_CODES)]
    )
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, pad_token=PAD, model_max_length=8192)
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(vocab_size: int, *, seed: int = 0) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    model = Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=16,
            max_position_embeddings=8192,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
            tie_word_embeddings=True,
        )
    )
    model.train(False)
    return model


def make_tiny_lm(directory: Path) -> None:
    """Write the tiny LM and its tokenizer to ``directory`` with ``save_pretrained``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    model = build_model(len(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
