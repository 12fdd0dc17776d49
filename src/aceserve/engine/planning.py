"""The 5 Hz LM planner in the engine: which tasks it plans, and what a plan changes.

Only txt2audio plans (upstream also skips its LM for cover and repaint). A txt2audio task plans when
``thinking`` is true, or absent on an engine that has a planner; ``description`` asks the planner to
write the caption and lyrics first. Either needs a planner: without one (``--lm none``) they are an
input error that says so, never silently dropped. ``thinking: false`` and ``--lm none`` keep the
DiT-only path, bit for bit.
"""

from __future__ import annotations

from aceserve.domain.errors import TaskInputError
from aceserve.domain.states import TaskType
from aceserve.engine.types import GenerationRequest


def wants_plan(request: GenerationRequest, *, has_planner: bool) -> bool:
    """Whether ``request`` runs the planner; raises ``TaskInputError`` if it needs one that is not loaded."""
    if request.task_type is not TaskType.TXT2AUDIO:
        return False
    if not has_planner:
        if request.description:
            raise TaskInputError(
                "`description` needs the 5 Hz LM planner, and this server runs without one (--lm none); "
                "send `style_prompt` and `lyrics` instead."
            )
        if request.thinking:
            raise TaskInputError(
                "`thinking` is true, but this server runs without the 5 Hz LM planner (--lm none); "
                "leave `thinking` out or set it to false."
            )
        return False
    return bool(request.description) or request.thinking is not False


def ignored_planner_inputs(request: GenerationRequest) -> tuple[str, ...]:
    """Log lines for planner inputs a task type does not use."""
    if request.task_type is not TaskType.TXT2AUDIO and request.thinking:
        return (f"`thinking` applies to txt2audio only; this {request.task_type.value} task ran without the planner.",)
    return ()
