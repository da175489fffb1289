"""When a simulated operator takes over: the intervention models of the RLIF paper.

Each model is asked once per step, in order, whether the operator controls this step, given
the robot state, the policy's proposed action (None when no policy runs) and the expert's.

- `ValueBasedModel` (the paper's value-based intervention): when Q_ref(s, a_expert) >
  Q_ref(s, a_policy) + delta, the operator takes over with probability beta and then keeps
  control for k steps (the takeover step included); after them it judges again each step.
  Q_ref defaults to the analytic task-progress value of the sim pick (`teleop.task_value`);
  defaults beta 0.95, delta 0.5 steps, k 4.
- `RandomModel` (the paper's random intervention at a given rate): an alternating renewal
  process of policy gaps and takeovers whose lengths are geometric (at least one step), with
  means chosen so the long-run fraction of steps under the operator is the rate. It runs on
  across episodes, so short episodes do not bias the rate. Schedules for the paper's rates:

  | schedule | mean gap (steps) | mean takeover (steps) | rate |
  |----------|------------------|-----------------------|------|
  | `30`     | 7                | 3                     | 30 % |
  | `50`     | 5                | 5                     | 50 % |
  | `85`     | 3                | 17                    | 85 % |

- `ExpertModel`: the operator always controls (demonstrations).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from teleop.task_value import PickValue

QFunction = Callable[[dict[str, Any], np.ndarray], float]


class InterventionModel(Protocol):
    def reset(self) -> None:
        """A new episode starts."""

    def decide(self, state: dict[str, Any], policy_action: np.ndarray | None, expert_action: np.ndarray) -> bool:
        """Whether the operator controls this step."""


class ExpertModel:
    """The operator drives every step."""

    def reset(self) -> None:
        pass

    def decide(self, state: dict[str, Any], policy_action: np.ndarray | None, expert_action: np.ndarray) -> bool:
        return True


class ValueBasedModel:
    def __init__(
        self, beta: float = 0.95, delta: float = 0.5, k: int = 4, q: QFunction | None = None, seed: int = 0
    ) -> None:
        if not 0.0 <= beta <= 1.0 or k < 1:
            raise ValueError(f"need 0 <= beta <= 1 and k >= 1, got beta={beta}, k={k}")
        self.beta, self.delta, self.k = beta, delta, k
        self.q = q or PickValue().q
        self.rng = np.random.default_rng(seed)
        self._left = 0

    def reset(self) -> None:
        self._left = 0

    def decide(self, state: dict[str, Any], policy_action: np.ndarray | None, expert_action: np.ndarray) -> bool:
        if self._left > 0:
            self._left -= 1
            return True
        if policy_action is None:
            return True
        worse = self.q(state, expert_action) > self.q(state, policy_action) + self.delta
        if worse and self.rng.random() < self.beta:
            self._left = self.k - 1
            return True
        return False


@dataclass(frozen=True)
class RandomSchedule:
    mean_gap: float
    """Mean number of policy steps between takeovers."""
    mean_length: float
    """Mean number of steps of a takeover."""

    @property
    def rate(self) -> float:
        return self.mean_length / (self.mean_gap + self.mean_length)


RANDOM_SCHEDULES: dict[str, RandomSchedule] = {
    "30": RandomSchedule(mean_gap=7.0, mean_length=3.0),
    "50": RandomSchedule(mean_gap=5.0, mean_length=5.0),
    "85": RandomSchedule(mean_gap=3.0, mean_length=17.0),
}


class RandomModel:
    def __init__(self, schedule: RandomSchedule | str = "50", seed: int = 0) -> None:
        self.schedule = RANDOM_SCHEDULES[schedule] if isinstance(schedule, str) else schedule
        if self.schedule.mean_gap < 1 or self.schedule.mean_length < 1:
            raise ValueError(f"mean gap and length must be at least one step, got {self.schedule}")
        self.rng = np.random.default_rng(seed)
        self._taking_over = False
        self._left = self._draw(self.schedule.mean_gap)

    def _draw(self, mean: float) -> int:
        return int(self.rng.geometric(1.0 / mean))

    def reset(self) -> None:
        pass  # the schedule runs on across episodes

    def decide(self, state: dict[str, Any], policy_action: np.ndarray | None, expert_action: np.ndarray) -> bool:
        if self._left == 0:
            self._taking_over = not self._taking_over
            mean = self.schedule.mean_length if self._taking_over else self.schedule.mean_gap
            self._left = self._draw(mean)
        self._left -= 1
        return self._taking_over or policy_action is None
