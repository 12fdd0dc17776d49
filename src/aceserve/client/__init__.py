"""A small typed client for an aceserve (or PiAPI) server: the one way this project's tools talk to a
server (``aceserve generate``)."""

from aceserve.client.api import AceClient, ApiError, ServerUnreachable
from aceserve.client.task import TaskView
from aceserve.client.watch import watch

__all__ = ["AceClient", "ApiError", "ServerUnreachable", "TaskView", "watch"]
