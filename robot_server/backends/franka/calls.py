"""Calls into libfranka with a deadline.

libfranka blocks without limit in places (a second connection to an arm in use waits forever,
a state read on a dead link waits for its own timeout). Every call runs on a worker thread and
the caller gives up after its timeout; while a call that timed out has not returned, later
calls fail at once instead of queueing behind it. franky releases the GIL in its blocking calls;
what blocks while holding it (pybind11 destructors: a Gripper with a command still running)
cannot be bounded this way and is avoided where it is used.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class FrankaError(RuntimeError):
    """Something the Franka backend could not do; the message says what to check."""


class FrankaTimeout(FrankaError):
    """A call into franky gave no answer in time."""


class _Job:
    def __init__(self, fn: Callable[[], Any], what: str) -> None:
        self.fn = fn
        self.what = what
        self.started = time.monotonic()
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.abandoned = False
        """The caller gave up: whatever the call returns late (a connection) is dropped at once."""
        self.lock = threading.Lock()


class CallWorker:
    """One daemon thread that runs blocking calls for callers that wait at most a timeout.

    Daemon, so that a call stuck inside libfranka never keeps the process from exiting.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stuck: _Job | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T], timeout: float, what: str) -> T:
        """`fn()` on the worker thread; raises FrankaTimeout after `timeout` seconds."""
        with self._lock:
            if self._closed:
                raise FrankaError(f"{what}: the connection is closed")
            stuck = self._stuck
            if stuck is not None and not stuck.done.is_set():
                waited = time.monotonic() - stuck.started
                raise FrankaTimeout(f"{what}: an earlier call ({stuck.what}) has not returned for {waited:.1f} s")
            job = _Job(fn, what)
            self._jobs.put(job)
            if not job.done.wait(timeout):
                with job.lock:
                    job.abandoned = not job.done.is_set()
                if job.abandoned:
                    self._stuck = job
                    raise FrankaTimeout(f"{what}: no answer within {timeout:g} s")
        error, result = job.error, job.result
        del job
        if error is None:
            return result
        try:
            raise error
        finally:
            del error  # no frame -> exception -> traceback -> frame cycle: it would keep a connection open

    @property
    def busy(self) -> bool:
        """A call that timed out is still running."""
        stuck = self._stuck
        return stuck is not None and not stuck.done.is_set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._jobs.put(None)

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            result: Any = None
            try:
                result = job.fn()
            except BaseException as exc:  # handed to the caller, who decides
                job.error = exc
            finally:
                with job.lock:
                    if not job.abandoned:
                        job.result = result
                    job.done.set()
                del job, result
