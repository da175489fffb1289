"""Rate-limited log lines for what a peer can repeat at will (malformed messages, refusals).

A `RateLimitedLog` writes the first line of each key at once, then at most one line per key
every `interval` seconds; the lines it holds back are counted and reported on the next line of
that key ("... and 2999 more like it"), or by `flush()`, which the owner calls now and then (its
poll loop) and when it closes. Keys name a kind of event chosen by the code, never text a peer
sent, and the table of keys has a bound all the same.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_INTERVAL = 10.0
MAX_KEYS = 256


@dataclass
class _Key:
    level: int
    written: float
    """Monotonic time of the last line written for the key."""
    held: int = 0
    """Lines held back since then."""


class RateLimitedLog:
    def __init__(
        self,
        logger: logging.Logger,
        interval: float = DEFAULT_INTERVAL,
        *,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._clock = clock
        self._keys: OrderedDict[str, _Key] = OrderedDict()

    def warning(self, key: str, message: str, *args: object) -> None:
        self.log(logging.WARNING, key, message, *args)

    def log(self, level: int, key: str, message: str, *args: object) -> None:
        now = self._clock()
        state = self._keys.get(key)
        if state is not None and now - state.written < self.interval:
            state.held += 1
            return
        if state is not None and state.held:
            message = f"{message} (and {state.held} more like it in the last {now - state.written:.0f} s)"
        self.logger.log(level, message, *args, stacklevel=3)
        self._keys[key] = _Key(level, now)
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._report(*self._keys.popitem(last=False), now)

    def flush(self, *, force: bool = False) -> None:
        """Report the lines held back of every key whose interval has passed (all with `force`)."""
        now = self._clock()
        for key, state in self._keys.items():
            if state.held and (force or now - state.written >= self.interval):
                self._report(key, state, now)
                state.written, state.held = now, 0

    def _report(self, key: str, state: _Key, now: float) -> None:
        if state.held:
            self.logger.log(
                state.level, "... and %d more like it (%s) in the last %.0f s", state.held, key, now - state.written
            )
