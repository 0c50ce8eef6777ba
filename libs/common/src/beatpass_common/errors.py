"""Failures a handler or the runtime raises that the bus treats differently from a plain error.

A plain exception is retried with backoff, then dead-lettered (reason ``error``). These carry a
``reason`` that goes into ``step.failed`` (see ``events.FailureReason``):

- ``Overrun`` (timeout, memory, worker_died): the runtime stopped the work at a hard limit. The
  bus retries it, and parks the message after ``Settings.park_after_overruns`` overruns.
- ``PermanentError`` (e.g. ``Unreadable``): retrying cannot help; the message is parked at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .events import FailureReason


class Overrun(Exception):
    """The work in a supervised child process hit a hard limit and the child was stopped."""

    reason: ClassVar[FailureReason] = "worker_died"


class TimeLimitExceeded(Overrun):
    reason = "timeout"


class MemoryLimitExceeded(Overrun):
    reason = "memory"


class WorkerDied(Overrun):
    reason = "worker_died"


class PermanentError(Exception):
    """Retrying the same message cannot succeed: park it at once with this reason."""

    reason: ClassVar[FailureReason] = "error"


class Unreadable(PermanentError):
    """A step could not read an input that validation accepted: our fault, never the producer's."""

    reason = "unreadable"
