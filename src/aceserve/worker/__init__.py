"""Workers: claim tasks from the queue, fetch and decode inputs, run the engine, store results."""
