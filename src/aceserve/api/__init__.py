"""HTTP API (FastAPI): the PiAPI wire contract. Never imports torch or the engine."""
