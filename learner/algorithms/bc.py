"""Behaviour cloning from demonstrations only: the prior data in the demos buffer. Anything else
that arrives is stored (by source, as `rlif` does) and not learnt from.
"""

from __future__ import annotations

from learner.agents.bc import BCAgent
from learner.algorithms.spec import BY_SOURCE, DEMOS, NO_REWARD, AlgorithmSpec

SPEC = AlgorithmSpec(
    name="bc",
    learns="BC on demonstrations",
    rewards=lambda config: NO_REWARD,
    stores=BY_SOURCE,
    samples=(DEMOS,),
    agent=BCAgent,
)
