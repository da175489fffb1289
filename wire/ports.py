"""The default ports of the house's sockets, in one place: each process binds or connects to
these on loopback unless its settings say otherwise (docs/wire_protocol.md lists them)."""

from __future__ import annotations

SERVER = 5555
"""The robot server's requests (`rlif server`)."""
SERVER_STREAM = 5556
"""The robot server's published state and images."""
TELEOP_COMMANDS = 5560
"""The operator's command stream (`rlif teleop`, `rlif operator`)."""
PROPOSALS = 5561
"""The actor's proposal stream (each policy action before it runs)."""
TRANSITIONS = 5570
"""The learner's transitions (actors send every step)."""
WEIGHTS = 5571
"""The learner's weights (latest only)."""
LEARNER_STATUS = 5572
"""The learner's status stream."""
ACTOR_STATUS = 5573
"""An actor's status stream."""


def local(port: int) -> str:
    """The loopback TCP address of `port`."""
    return f"tcp://127.0.0.1:{port}"
