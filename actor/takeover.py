"""Which action runs at each step: the policy's or the operator's.

`TakeoverTracker.decide` is called once per step with the policy action (None when no policy
runs) and the operator's command for this step (None when the operator is absent: no command,
or a stream silent past its timeout). The rules:

- the operator's action runs while its command is active (input outside the deadzone, or a
  button held), or when a gripper-toggle press arrived since the last step (a press shorter
  than one step still counts);
- after a live operator (command step == LATEST) lets go, its action (no motion, its gripper)
  keeps running for `hold_time` seconds of the monotonic clock, so the policy does not snap back
  between two nudges of the mouse; a new input restarts the hold. Answers of simulated operators
  (command step >= 0) decide each step themselves: no hold. A disconnected device or a silent
  stream ends a hold at once;
- otherwise the policy's action runs; with no policy the arm holds still (zero motion, gripper
  as last executed).

Gripper: a command that names a gripper value gets it; one that does not keeps the gripper
last executed and flips it (closed <-> open) once per new toggle press.

`intervention_onset` follows `wire.records.onsets`: the first intervened step of a segment,
including step 0 of an episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wire.operator import LATEST, MARK_NONE, OperatorCommand
from wire.records import onsets

OPEN = 1.0


@dataclass(frozen=True)
class Decision:
    action: np.ndarray
    """The 7-D action to execute."""
    intervened: bool
    onset: bool
    source: str
    """'policy', or the operator command's source."""
    mark: int = MARK_NONE
    """A new verdict of the operator on the episode, given since the last step."""


def is_onset(previous: bool | None, intervened: bool) -> bool:
    """`wire.records.onsets` for the newest step; `previous` is None at an episode's first step."""
    window = [intervened] if previous is None else [previous, intervened]
    return bool(onsets(window)[-1])


class TakeoverTracker:
    def __init__(self, hold_time: float = 0.5) -> None:
        if hold_time < 0:
            raise ValueError(f"hold_time must be >= 0, got {hold_time}")
        self.hold_time = hold_time
        self._sender: str | None = None
        self._toggles = 0
        self._mark_seq = 0
        self.reset()

    def reset(self) -> None:
        """A new episode: the arm starts with its gripper open and no takeover."""
        self._previous: bool | None = None
        self._hold_until = -np.inf
        self._gripper = OPEN

    def _new_presses(self, command: OperatorCommand) -> tuple[int, int]:
        """Toggle presses and verdicts since the last command seen; a new sender starts from its count."""
        if command.sender != self._sender:
            self._sender = command.sender
            self._toggles, self._mark_seq = command.gripper_toggles, command.mark_seq
            return 0, MARK_NONE
        toggles = max(0, command.gripper_toggles - self._toggles)
        mark = command.mark if command.mark_seq > self._mark_seq else MARK_NONE
        self._toggles, self._mark_seq = command.gripper_toggles, command.mark_seq
        return toggles, mark

    def decide(self, now: float, policy_action: np.ndarray | None, command: OperatorCommand | None) -> Decision:
        toggles, mark = self._new_presses(command) if command is not None else (0, MARK_NONE)
        live = acting = False
        if command is not None and command.connected:
            live = command.step == LATEST
            acting = command.active or toggles > 0
        if acting and live:
            self._hold_until = now + self.hold_time
        holding = live and not acting and bool(self._previous) and now < self._hold_until
        if not (acting or holding):
            self._hold_until = -np.inf
        intervened = acting or holding

        if intervened:
            assert command is not None
            gripper = self._gripper
            if toggles % 2:
                gripper = -OPEN if gripper >= 0 else OPEN
            action = command.action(gripper)
            if holding:
                action[:6] = 0.0
            source = command.source
        elif policy_action is not None:
            action = np.asarray(policy_action, dtype=np.float64).copy()
            source = "policy"
        else:
            action = np.zeros(7)
            action[6] = self._gripper
            source = "policy"

        onset = is_onset(self._previous, intervened)
        self._previous = intervened
        self._gripper = float(action[6])
        return Decision(action=action, intervened=intervened, onset=onset, source=source, mark=mark)
