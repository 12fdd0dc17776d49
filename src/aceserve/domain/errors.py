"""Domain errors. Each carries the HTTP status used in the PiAPI envelope; one handler maps them."""

from __future__ import annotations


class AceserveError(Exception):
    """Base of every error that is reported to a client with a status and a clear sentence."""

    status_code: int = 500

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class InvalidInput(AceserveError):
    """A request field breaks a rule; the message names the field and the rule."""

    status_code = 400

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"`{field}` {rule}")
        self.field = field
        self.rule = rule


class FieldTooLarge(InvalidInput):
    """A field's content (decoded inline audio, an uploaded file) is over its size limit."""

    status_code = 413


class Unauthorized(AceserveError):
    status_code = 401


class InsufficientCredit(AceserveError):
    status_code = 402


class NotFound(AceserveError):
    status_code = 404


class Conflict(AceserveError):
    status_code = 409


class PayloadTooLarge(AceserveError):
    status_code = 413


class ServiceUnavailable(AceserveError):
    """Something the service needs (its database) cannot be reached; the message names it and why."""

    status_code = 503


class TooManyRequests(AceserveError):
    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class TaskInputError(Exception):
    """The task's input is bad in a way found only while running it (unfetchable, undecodable...).

    Fails the task at once, without retries; the message is shown to the client.
    """


class StaleLease(Exception):
    """A worker tried to write a task whose lease it no longer holds (another worker re-ran it)."""


class TaskCancelled(Exception):
    """The task was cancelled while a worker ran it."""
