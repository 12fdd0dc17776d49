"""The engine: ACE-Step 1.5 through diffusers' ``AceStepPipeline``.

This package is the only place that imports torch, diffusers or transformers, and only in its
submodules: importing ``aceserve.engine`` or ``aceserve.engine.types`` stays torch-free so the
worker can describe jobs before it loads a model.
"""
