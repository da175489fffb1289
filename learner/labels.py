"""Reward labels of RLIF (Luo et al. 2024, Algorithm 2 and Figure 1), defined once, here.

Transition t of an episode is (s_t, a_t, s_{t+1}), with a_t the executed action. When the
operator takes over at step t (`intervention_onset[t]`), the policy's transition t-1 —
the step that made the operator step in — gets the intervention penalty (-1); every other
transition gets 0, the operator's own included. An onset at t = 0 labels nothing: no policy
step came before it in this episode. Back-to-back takeovers label each policy step just before
each onset; a takeover that runs to the end of the episode labels only the step before it.

Operator transitions (`intervened[t]`) are kept: they go to the intervention buffer, policy
transitions to the online buffer.

`done` is `terminated` alone: a truncated episode (time limit) still bootstraps from its
last observation, a terminated one does not.

An optional sparse task reward (+1 on the first step whose `success` is 1) can be added to the
intervention labels (`LearnerConfig.task_reward`); RLPD, the oracle reference, uses it alone.
Which rule an algorithm uses is its `rewards` in `learner.algorithms` (the behaviour-cloning
ones use none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RewardRule:
    """Which reward terms a transition gets."""

    intervention_penalty: float | None
    """Reward of the policy transition just before a takeover; None: interventions are not rewards."""
    task_reward: bool
    """Add +1 on the first successful step."""

    def transition_reward(self, *, next_step_is_onset: bool, first_success: bool) -> float:
        """The reward of transition t, given whether step t+1 starts a takeover and whether step t
        is the episode's first successful step. The only place a reward is decided."""
        reward = 0.0
        if next_step_is_onset and self.intervention_penalty is not None:
            reward += self.intervention_penalty
        if first_success and self.task_reward:
            reward += 1.0
        return reward

    def episode_rewards(self, intervention_onset: np.ndarray, success: np.ndarray | None = None) -> np.ndarray:
        """Rewards of every transition of an episode of T steps, float32 (T,)."""
        onset = np.asarray(intervention_onset, dtype=np.bool_)
        steps = onset.shape[0]
        first_success = first_success_flags(success, steps)
        rewards = np.zeros(steps, dtype=np.float32)
        for t in range(steps):
            next_step_is_onset = t + 1 < steps and bool(onset[t + 1])
            rewards[t] = self.transition_reward(next_step_is_onset=next_step_is_onset, first_success=first_success[t])
        return rewards


def first_success_flags(success: np.ndarray | None, steps: int) -> np.ndarray:
    """True on the first step whose success flag is 1 (unknown is -1, not yet 0)."""
    flags = np.zeros(steps, dtype=np.bool_)
    if success is None:
        return flags
    hits = np.flatnonzero(np.asarray(success) == 1)
    if hits.size:
        flags[hits[0]] = True
    return flags
