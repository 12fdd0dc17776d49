"""Command line: the composition root that wires settings, store, API, workers and engine."""
