"""Pure domain: task types and states, errors, input rules. No I/O, no frameworks beyond pydantic."""
