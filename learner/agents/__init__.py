"""Agents: the networks an algorithm trains and how. `Agent` (learner.agents.base) is the one
interface the learner uses; `SACAgent` (learner.agents.sac) and `BCAgent` (learner.agents.bc)
implement it on `PolicyAgent`'s encoder, actor and checkpoint state."""
