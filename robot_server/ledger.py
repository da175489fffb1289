"""Which commands of which client the server has accepted: sequence numbers against replays.

Each client's commands must come with rising sequence numbers; a command whose number is not
above the last accepted one of its client is a duplicate or a replay. The table is bounded
without ever forgetting a client too early: an entry goes only once every command it could
have let through is past its deadline (deadlines lie at most MAX_DEADLINE_AHEAD ahead), and a
new client is refused while the table is full of younger entries.
"""

from __future__ import annotations

from collections import OrderedDict

from wire import ErrorCode, WireError

MAX_CLIENTS_TRACKED = 1024
MAX_DEADLINE_AHEAD = 60.0
"""Seconds a command's deadline may lie ahead of its arrival."""


class CommandLedger:
    def __init__(self, capacity: int = MAX_CLIENTS_TRACKED) -> None:
        self.capacity = capacity
        self._last: OrderedDict[str, tuple[int, float]] = OrderedDict()
        """Per client, oldest first: the last accepted sequence number and when it was accepted."""
        self.controller: str | None = None
        """The client whose command was accepted last."""

    def __len__(self) -> int:
        return len(self._last)

    def check(self, client: str, seq: int, deadline: float, now: float) -> None:
        """Raises WireError unless a command (client, seq, deadline) arriving at `now` may run."""
        if deadline < now:
            raise WireError(ErrorCode.STALE, f"deadline passed {now - deadline:.4f} s before arrival")
        if deadline > now + MAX_DEADLINE_AHEAD:
            raise WireError(
                ErrorCode.INVALID_ARGUMENT,
                f"deadline {deadline - now:.1f} s ahead; re-sync the client's clock offset (ping)",
            )
        last = self._last.get(client)
        if last is not None and seq <= last[0]:
            raise WireError(ErrorCode.DUPLICATE, f"seq {seq} is not above the last accepted ({last[0]})")
        if last is None and len(self._last) >= self.capacity:
            self._forget_expired(now)
            if len(self._last) >= self.capacity:
                raise WireError(
                    ErrorCode.LIMIT_EXCEEDED,
                    f"{self.capacity} clients sent commands in the last {MAX_DEADLINE_AHEAD:.0f} s; "
                    "try again later or reuse a client id",
                )

    def accept(self, client: str, seq: int, now: float) -> None:
        """The command passed `check` and ran: remember it; its client is now in control."""
        self._last[client] = (seq, now)
        self._last.move_to_end(client)
        self.controller = client

    def _forget_expired(self, now: float) -> None:
        while self._last:
            client, (_seq, accepted) = next(iter(self._last.items()))
            if now - accepted <= MAX_DEADLINE_AHEAD or client == self.controller:
                return
            del self._last[client]
