"""A daemon thread that owns one socket (or an object holding one) for its whole life."""

from __future__ import annotations

import threading
from typing import Any


class SocketThread:
    """`_launch` starts the thread, waits until `_open` has returned and re-raises its failure;
    the thread then runs `_loop` until `_stop` is set, and closes what `_open` returned."""

    _stop: threading.Event
    _thread: threading.Thread | None = None

    def _launch(self, name: str) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError(f"{name} did not start")
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        try:
            resource = self._open()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(resource)
        finally:
            resource.close()

    def _open(self) -> Any:
        raise NotImplementedError

    def _loop(self, resource: Any) -> None:
        raise NotImplementedError

    def _join(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
