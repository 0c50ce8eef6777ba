"""The part buffers of one gateway process, shared by every PATCH it receives.

A PATCH fills a buffer of ``upload_part_bytes`` from the client and stores it as one multipart
part. However many uploads arrive at once (a page sends one file as several partial uploads), the
process holds at most ``upload_part_buffers`` of them: its memory stays flat in the number and the
size of uploads. The buffers are made once and reused, so the allocator never has to find room
for a new 8 MiB block in a fragmented heap.
"""

from __future__ import annotations

import threading


class PartBuffers:
    def __init__(self, count: int):
        """``count``: buffers this process may hold at once (at least 1)."""
        self._count = max(1, count)
        self._free: list[bytearray] = []
        self._made = 0
        self._cond = threading.Condition()

    def _pop(self, size: int) -> bytearray | None:
        # under the lock; a buffer of another size (the setting changed) is dropped and made anew
        while self._free:
            buffer = self._free.pop()
            if len(buffer) == size:
                return buffer
            self._made -= 1
        if self._made < self._count:
            self._made += 1
            return bytearray(size)
        return None

    def take(self, size: int, wait_s: float) -> bytearray | None:
        """A buffer of ``size`` bytes, waiting up to ``wait_s`` for one to be given back; None
        if none was."""
        with self._cond:
            buffer = self._pop(size)
            if buffer is None and self._cond.wait_for(lambda: self._free or self._made < self._count, wait_s):
                buffer = self._pop(size)
            return buffer

    def try_take(self, size: int) -> bytearray | None:
        """A buffer if one is free now, else None."""
        with self._cond:
            return self._pop(size)

    def give(self, buffer: bytearray) -> None:
        with self._cond:
            self._free.append(buffer)
            self._cond.notify()
