"""A suboptimal scripted expert for the simulated pick task, with measured presets.

It is `scripted_pick_action` with three knobs of suboptimality:

- `noise`: Gaussian noise (this standard deviation, in normalised action units) on the
  translation and rotation of every action;
- `slowness`: the fraction of speed lost: translation and rotation are scaled by 1 - slowness;
- `failed_grasp`: the probability, drawn once per episode, that the grasp misses: the expert
  closes the gripper above the cube instead of around it, and then lifts its empty gripper as if
  it held the cube, for the rest of the episode. The draws are stratified: each block of
  `FUMBLE_BLOCK` (20) episodes holds 20 * failed_grasp missed grasps (rounded at random) in random
  order, so a preset's success rate varies little between runs.

Presets and their nominal success rates on the sim pick task (state-only lockstep env, 100-step
episodes, randomised cubes); `tests/test_teleop_operators.py` measures them over 60 episodes each
and `benchmarks/teleop.py` reports them:

| preset    | noise | slowness | failed_grasp | nominal success |
|-----------|-------|----------|--------------|-----------------|
| `perfect` | 0     | 0        | 0            | ~100 %          |
| `good`    | 0.1   | 0        | 0.08         | ~90 %           |
| `medium`  | 0.2   | 0.3      | 0.5          | ~50 %           |
| `poor`    | 0.25  | 0.4      | 0.75         | ~20 %           |
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from teleop.scripted_pick import GRIPPER_CLOSED_WIDTH, PickGains, scripted_pick_action

FUMBLE_HEIGHT = 0.07
"""How far above the cube centre a missed grasp closes the gripper, metres (the cube's top is at 0.025)."""
FUMBLE_BLOCK = 20
"""Episodes per stratification block of the failed grasps."""


@dataclass(frozen=True)
class ExpertKnobs:
    """How suboptimal the scripted expert is."""

    noise: float = 0.0
    """Standard deviation of the Gaussian noise on translation and rotation actions."""
    slowness: float = 0.0
    """Fraction of speed lost, in [0, 1): actions are scaled by 1 - slowness."""
    failed_grasp: float = 0.0
    """Probability, per episode, that the grasp misses and the expert lifts an empty gripper."""

    def __post_init__(self) -> None:
        if self.noise < 0 or not 0 <= self.slowness < 1 or not 0 <= self.failed_grasp <= 1:
            raise ValueError(f"invalid expert knobs {self}")


PRESETS: dict[str, ExpertKnobs] = {
    "perfect": ExpertKnobs(),
    "good": ExpertKnobs(noise=0.1, slowness=0.0, failed_grasp=0.08),
    "medium": ExpertKnobs(noise=0.2, slowness=0.3, failed_grasp=0.5),
    "poor": ExpertKnobs(noise=0.25, slowness=0.4, failed_grasp=0.75),
}
NOMINAL_SUCCESS: dict[str, float] = {"perfect": 1.0, "good": 0.9, "medium": 0.5, "poor": 0.2}


class ScriptedExpert:
    """The scripted pick expert with suboptimality knobs; `reset` at each episode start."""

    def __init__(self, knobs: ExpertKnobs | str = "perfect", gains: PickGains | None = None, seed: int = 0) -> None:
        self.knobs = PRESETS[knobs] if isinstance(knobs, str) else knobs
        self.gains = gains = gains or PickGains()
        self._fumble_gains = replace(gains, grasp_depth=-FUMBLE_HEIGHT)
        self.rng = np.random.default_rng(seed)
        self.fumbling = False
        self._fumbles: list[bool] = []

    def reset(self) -> None:
        """A new episode: draw whether this episode's grasp misses."""
        if not self._fumbles:
            expected = self.knobs.failed_grasp * FUMBLE_BLOCK
            count = int(expected) + int(self.rng.random() < expected - int(expected))
            self._fumbles = [True] * count + [False] * (FUMBLE_BLOCK - count)
            self.rng.shuffle(self._fumbles)
        self.fumbling = self._fumbles.pop()

    def act(self, state: dict[str, Any]) -> np.ndarray:
        """Normalised 7-D action from a robot server state map (with the sim's privileged fields)."""
        if self.fumbling and self._closed_on_nothing(state):
            action = self._lift_empty(state)
        else:
            action = scripted_pick_action(state, self._fumble_gains if self.fumbling else self.gains)
        motion = action[:6] * (1.0 - self.knobs.slowness)
        if self.knobs.noise > 0:
            motion = motion + self.rng.normal(0.0, self.knobs.noise, 6)
        action[:6] = np.clip(motion, -1.0, 1.0)
        return action

    def _closed_on_nothing(self, state: dict[str, Any]) -> bool:
        return float(state["gripper_width"]) < GRIPPER_CLOSED_WIDTH and not state.get("sim_grasped")

    def _lift_empty(self, state: dict[str, Any]) -> np.ndarray:
        tcp = np.asarray(state["tcp_pos"], dtype=np.float64)
        action = np.zeros(7)
        action[2] = np.clip(self.gains.gain * (self.gains.lift_height - tcp[2]) / self.gains.translation_scale, -1, 1)
        action[6] = -1.0
        return action


class PickEnv(Protocol):
    """What `measure_success` needs of an env: gymnasium's reset/step, with the robot's state map
    (sim fields included) in `info["robot"]` and the sim's oracle in `info["success"]`."""

    def reset(self, *, seed: int | None = None) -> tuple[Any, dict[str, Any]]: ...

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]: ...


def measure_success(env: PickEnv, expert: ScriptedExpert, episodes: int, seed: int) -> float:
    """Fraction of `episodes` (scene seeds seed, seed + 1, ...) the expert alone succeeds in."""
    successes = 0
    for episode in range(episodes):
        _, info = env.reset(seed=seed + episode)
        expert.reset()
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(info["robot"]))
            done = terminated or truncated
        successes += bool(info["success"])
    return successes / episodes
