"""What operators see: Prometheus metrics (``metrics``) and one log line per task transition
(``tasklog``), both fed by ``TaskEvent``s the store emits after each commit (``events``)."""

from aceserve.telemetry.events import TaskEvent, Transition, publish

__all__ = ["TaskEvent", "Transition", "publish"]
