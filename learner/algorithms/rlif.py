"""RLIF (Luo et al. 2024): SAC in the RLPD recipe on the intervention rewards, no task reward.

Labels: the policy step that made the operator take over gets `intervention_penalty` (-1), every
other step 0 (`learner.labels`); `task_reward` adds the sparse task reward. Policy steps go to
the online buffer, the operator's to the intervention buffer, prior data to demos; batches draw
on all three (half online, half operator steps and demonstrations).
"""

from __future__ import annotations

from learner.agents.sac import SACAgent
from learner.algorithms.spec import BUFFERS, BY_SOURCE, AlgorithmSpec
from learner.config import LearnerConfig
from learner.labels import RewardRule


def rewards(config: LearnerConfig) -> RewardRule:
    return RewardRule(intervention_penalty=config.intervention_penalty, task_reward=config.task_reward)


SPEC = AlgorithmSpec(
    name="rlif",
    learns="SAC on intervention labels",
    rewards=rewards,
    stores=BY_SOURCE,
    samples=BUFFERS,
    agent=SACAgent,
)
