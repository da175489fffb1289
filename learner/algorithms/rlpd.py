"""RLPD (Ball et al. 2023) on the sparse task reward: the oracle reference for RLIF.

The same SAC, buffers and batches as `rlif`; only the labels differ: +1 on the first successful
step, interventions are no reward.
"""

from __future__ import annotations

from learner.agents.sac import SACAgent
from learner.algorithms.spec import BUFFERS, BY_SOURCE, AlgorithmSpec
from learner.config import LearnerConfig
from learner.labels import RewardRule


def rewards(config: LearnerConfig) -> RewardRule:
    return RewardRule(intervention_penalty=None, task_reward=True)


SPEC = AlgorithmSpec(
    name="rlpd",
    learns="SAC on the sparse task reward",
    rewards=rewards,
    stores=BY_SOURCE,
    samples=BUFFERS,
    agent=SACAgent,
)
