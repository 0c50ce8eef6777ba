"""Hard limits on one piece of work: a supervised child process, killed when it overruns.

A handler's CPU-heavy part (decode, analysis) runs in a warm child process (pebble, one worker,
reused across calls so imports and numba compilation are paid once). The parent enforces a
wall-clock limit per call whether or not the work ever yields, and the child runs under an
address-space limit (RLIMIT_AS). Children are started with ``spawn``: the parent has threads
(kombu, HTTP), and forking a threaded process can copy held locks.

Failures map to ``beatpass_common.errors``:

- the call ran past its time limit: ``TimeLimitExceeded`` (the child is killed, SIGTERM then SIGKILL);
- the child raised ``MemoryError`` (an allocation refused under the limit): ``MemoryLimitExceeded``;
- the child died (segfault, OOM kill, ``os._exit``): ``WorkerDied``;
- ``terminate()`` killed it (shutdown grace expired): ``Terminated``, a ``WorkerDied``.

Exceptions the function raises itself propagate unchanged. The next call after a kill gets a
fresh child. With ``Settings.handler_isolation`` false, calls run in this process with no limits
(for comparison benchmarks and handler tests where isolation is not the point).

The function and its arguments and result cross a pipe: they must be picklable and the function
importable at module level. ``child_store`` gives a child its object store, opened once per process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError
from functools import lru_cache
from importlib import import_module
from typing import TypeVar

import pebble

from .config import Settings
from .errors import MemoryLimitExceeded, TimeLimitExceeded, WorkerDied
from .storage import ObjectStore, open_store

log = logging.getLogger(__name__)

T = TypeVar("T")


class Terminated(WorkerDied):
    """``terminate()`` killed the child while this call ran (the service is shutting down)."""


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this child when the worker ``parent`` that started it dies (Linux
    prctl(PR_SET_PDEATHSIG)), so a SIGKILLed or crashed worker never leaves a busy orphan behind."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the liveness probe restarts the whole pod instead
        return
    if os.getppid() != parent:  # the worker died before the request took effect
        os._exit(1)


def _child_setup(parent: int, memory_limit_bytes: int | None, preload: tuple[str, ...]) -> None:
    _die_with_parent(parent)
    # Imports first: they are the worker's fixed cost and must fit under the limit with room to work.
    for name in preload:
        import_module(name)
    if memory_limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))


@lru_cache(maxsize=4)
def _store(url: str, region: str, ca_file: str) -> ObjectStore:
    return open_store(url, region, ca_file)


def child_store(settings: Settings) -> ObjectStore:
    """The object store named by ``settings``, opened once per process and reused."""
    return _store(settings.resolved_storage_url(), settings.storage_region, settings.tls_ca_file)


class Runner:
    """Runs functions in one warm child process under a time and memory limit per call.

    ``preload``: modules the child imports before taking work (its fixed cost, paid once per child).
    Calls are serialised: one child, one call at a time.
    """

    def __init__(
        self,
        *,
        isolated: bool = True,
        time_limit_s: float | None = None,
        memory_limit_bytes: int | None = None,
        preload: tuple[str, ...] = (),
    ):
        self.isolated = isolated
        self.time_limit_s = time_limit_s
        self._setup = (os.getpid(), memory_limit_bytes, preload)
        self._lock = threading.Lock()  # one call at a time; terminate() does not take it
        self._pool: pebble.ProcessPool | None = None
        self._running: pebble.ProcessFuture | None = None
        self._terminated = False

    @classmethod
    def from_settings(cls, settings: Settings, preload: tuple[str, ...] = ()) -> Runner:
        return cls(
            isolated=settings.handler_isolation,
            time_limit_s=settings.handler_time_limit_s,
            memory_limit_bytes=settings.handler_memory_limit_bytes,
            preload=preload,
        )

    def call(self, fn: Callable[..., T], *args, time_limit_s: float | None = None, **kwargs) -> T:
        """``fn(*args, **kwargs)`` in the child, stopped after ``time_limit_s`` (default: the
        runner's) seconds of wall clock. Raises what ``fn`` raises, or an ``Overrun``."""
        if not self.isolated:
            return fn(*args, **kwargs)
        limit = self.time_limit_s if time_limit_s is None else time_limit_s
        with self._lock:
            if self._pool is None:
                self._pool = pebble.ProcessPool(
                    max_workers=1,
                    max_tasks=0,
                    initializer=_child_setup,
                    initargs=self._setup,
                    context=multiprocessing.get_context("spawn"),
                )
            self._terminated = False
            try:
                future = self._running = self._pool.schedule(fn, args=args, kwargs=kwargs, timeout=limit)
                return future.result()
            except TimeoutError:
                raise TimeLimitExceeded(f"{_name(fn)} ran past its {limit:g}-second limit and was stopped") from None
            except MemoryError as exc:
                raise MemoryLimitExceeded(f"{_name(fn)} ran out of its memory limit: {exc!r}") from None
            except pebble.ProcessExpired as exc:
                if self._terminated:
                    raise Terminated(f"{_name(fn)} was stopped: the worker is shutting down") from None
                raise WorkerDied(f"the process running {_name(fn)} died (exit code {exc.exitcode})") from None
            except CancelledError:
                raise Terminated(f"{_name(fn)} was stopped: the worker is shutting down") from None
            except Exception as exc:
                if self._pool.active:  # the function's own exception
                    raise
                raise WorkerDied(
                    f"the pool running {_name(fn)} broke ({exc!r}); the next call starts a new one"
                ) from None
            finally:
                self._running = None
                if not self._pool.active:  # broken (e.g. a child that died starting): never reuse it
                    log.error("the child process pool broke; the next call starts a new one")
                    self._discard()

    def terminate(self) -> None:
        """Kill the child now if it is running a call; that call raises ``Terminated``."""
        future, pool = self._running, self._pool
        if future is None or pool is None or future.done():
            return
        self._terminated = True
        log.warning("terminating the child process of a running call")
        future.cancel()

    def _discard(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # stop() kills the children; a bounded join so a shutdown never waits long
            pool.stop()
            pool.join(timeout=2)

    def close(self) -> None:
        """Stop the child (killing any running call) and release the pool."""
        self.terminate()
        self._discard()


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", repr(fn))
