"""aceserve: PiAPI's Qubico/ace-step task API, self-hosted on ACE-Step 1.5."""

__version__ = "0.1.0"
