"""`AlgorithmSpec`: what makes an algorithm, in one record: how its transitions are labelled,
which buffer each goes to, which buffers its batches come from, and the agent it trains.

The buffers: `online` (the policy's own steps), `intervention` (the operator's steps) and `demos`
(prior data: demonstrations and other offline episodes). A transition comes from one of three
sources: a step the policy drove, a step the operator drove, or a prior episode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from learner.agents.base import Agent
from learner.config import LearnerConfig
from learner.labels import RewardRule
from wire.records import EpisodeRecord

ONLINE, INTERVENTION, DEMOS = "online", "intervention", "demos"
BUFFERS = (ONLINE, INTERVENTION, DEMOS)

Source = Literal["policy", "operator", "prior"]
SOURCES: tuple[Source, ...] = ("policy", "operator", "prior")
BY_SOURCE: Mapping[Source, str] = {"policy": ONLINE, "operator": INTERVENTION, "prior": DEMOS}
"""The usual routing: policy steps online, operator steps to the intervention buffer, prior data to demos."""

Relabel = Callable[[EpisodeRecord], np.ndarray]
"""Expert action labels (T, action_dim) for every step of an episode (DAgger)."""

NO_REWARD = RewardRule(intervention_penalty=None, task_reward=False)
"""The rule of the behaviour-cloning algorithms: they do not use rewards."""


@dataclass(frozen=True)
class AlgorithmSpec:
    name: str
    learns: str
    """One line: what the algorithm learns from."""
    rewards: Callable[[LearnerConfig], RewardRule]
    """The reward labelling of its transitions (`learner.labels`)."""
    stores: Mapping[Source, str]
    """The buffer each source's transitions go to."""
    samples: tuple[str, ...]
    """The buffers its batches are drawn from (shares: `learner.mixing`)."""
    agent: Callable[[LearnerConfig], Agent]
    """The agent it trains, built from the settings."""
    relabel: Relabel | None = None
    """Store an expert's label of each visited state instead of the executed action (DAgger): the
    default relabel of a recorded episode; streamed steps carry the expert's action themselves."""

    def __post_init__(self) -> None:
        if set(self.stores) != set(SOURCES) or not set(self.stores.values()) <= set(BUFFERS):
            raise ValueError(f"{self.name}: stores must send each of {SOURCES} to one of {BUFFERS}")
        if not self.samples or not set(self.samples) <= set(BUFFERS):
            raise ValueError(f"{self.name}: samples must name some of {BUFFERS}")

    def buffer_for(self, *, intervened: bool, prior: bool) -> str:
        """The buffer a transition goes to."""
        return self.stores["prior" if prior else "operator" if intervened else "policy"]

    @property
    def expert_labels(self) -> bool:
        return self.relabel is not None
