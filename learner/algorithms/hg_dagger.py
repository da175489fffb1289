"""HG-DAgger (Kelly et al. 2019): behaviour cloning on the operator's actions, aggregated over
every takeover, and on the demonstrations. The policy's own steps are stored (online) but not
learnt from.
"""

from __future__ import annotations

from learner.agents.bc import BCAgent
from learner.algorithms.spec import BY_SOURCE, DEMOS, INTERVENTION, NO_REWARD, AlgorithmSpec

SPEC = AlgorithmSpec(
    name="hg_dagger",
    learns="BC on aggregated operator actions",
    rewards=lambda config: NO_REWARD,
    stores=BY_SOURCE,
    samples=(INTERVENTION, DEMOS),
    agent=BCAgent,
)
