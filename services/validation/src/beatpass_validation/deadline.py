"""A time budget for one validation, checked inside every long loop."""

from __future__ import annotations

import time


class StepTimeout(Exception):
    pass


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise StepTimeout(f"validation took longer than {self.seconds:g} s")
