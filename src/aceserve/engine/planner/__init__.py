"""ACE-Step 1.5's 5 Hz language-model planner ("thinking"), on a transformers causal LM.

Given a caption and lyrics, the planner writes a chain of thought with the song's metadata (bpm,
caption rewrite, duration, key, vocal language, time signature), then 5 Hz audio codes the DiT
renders from (``engine/planning.py`` wires it into the engine). Modules, in the order a plan is made:

- ``load``: the LM and its tokenizer from a directory or hub id (``--lm``), on its device;
- ``prompts``: the chat prompts ACE-Step 1.5 builds for each phase, and the chain of thought's YAML;
- ``vocab``: the tokenizer's layout: audio-code tokens, special tokens, token sets per field;
- ``constraint``: the constrained decoding that keeps every plan well formed;
- ``decode``: batched sampling with a KV cache, classifier-free guidance and per-task seeds;
- ``parse``: text back to a ``Plan``; ``planner``: the phases, batched across tasks;
- ``tiny_lm``: the tiny random LM ``aceserve model make-tiny`` writes for tests.
"""
