"""Simulated operators: a scripted expert plus an intervention model, answering proposals.

A `SimulatedOperator` reads each proposal of the actor (the policy's action for one step, with
the robot's state map), asks its expert for an action and its model whether to take over, and
answers with an `OperatorCommand` for that very step (`episode`, `step` set) on the same command
stream a person uses. Every answer carries the expert's action as `expert_action`, taking over or
not: DAgger's label of the state. Answers are cached, so a proposal republished while the actor waits gets
the same answer, and the expert and the model advance exactly once per step.

`run_operator` is the process loop: answer every proposal as it arrives, and republish the last
answer at `rate` Hz in between, like a person's stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from teleop.intervention_models import ExpertModel, InterventionModel, RandomModel, ValueBasedModel
from teleop.publishers import CommandPublisher
from teleop.scripted_expert import PRESETS, ScriptedExpert
from teleop.stream import ProposalSubscriber
from wire.operator import OperatorCommand, Proposal

log = logging.getLogger(__name__)
StateSource = Callable[[Proposal], dict[str, Any]]


@dataclass(frozen=True)
class OperatorConfig:
    """A simulated operator: which expert, and when it takes over."""

    preset: str = "medium"
    """Scripted expert preset: perfect, good (~90 % success), medium (~50 %) or poor (~20 %)."""
    model: str = "value"
    """When it takes over: 'value' (value-based), 'random' or 'expert' (always: demonstrations)."""
    beta: float = 0.95
    """Value-based: probability of taking over when the expert's action is better by more than delta."""
    delta: float = 0.5
    """Value-based: margin of Q_ref, in steps of task progress."""
    k: int = 4
    """Value-based: steps the operator keeps control once it takes over."""
    schedule: str = "50"
    """Random: the rate schedule, '30', '50' or '85' (% of steps under the operator)."""
    seed: int = 0
    """Seed of the expert's noise and failed grasps and of the model's draws."""

    def build(self) -> SimulatedOperator:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose from {sorted(PRESETS)}")
        expert = ScriptedExpert(self.preset, seed=self.seed)
        model: InterventionModel
        if self.model == "value":
            model = ValueBasedModel(self.beta, self.delta, self.k, seed=self.seed + 1)
        elif self.model == "random":
            model = RandomModel(self.schedule, seed=self.seed + 1)
        elif self.model == "expert":
            model = ExpertModel()
        else:
            raise ValueError(f"unknown model {self.model!r}; choose value, random or expert")
        return SimulatedOperator(expert, model)


class SimulatedOperator:
    def __init__(self, expert: ScriptedExpert, model: InterventionModel, cache_size: int = 64) -> None:
        self.expert = expert
        self.model = model
        self._episode: str | None = None
        self._answers: OrderedDict[tuple[str, int], OperatorCommand] = OrderedDict()
        self._cache_size = cache_size
        self.answered = 0
        self.takeovers = 0

    def answer(self, proposal: Proposal, state: dict[str, Any] | None = None) -> OperatorCommand:
        """The command for this proposal; `state` replaces the proposal's robot map if given."""
        key = (proposal.episode, proposal.step)
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        if proposal.episode != self._episode:
            self._episode = proposal.episode
            self.expert.reset()
            self.model.reset()
        robot = proposal.robot if state is None else state
        expert_action = self.expert.act(robot)
        policy = None if np.isnan(proposal.policy_action).all() else proposal.policy_action
        take = self.model.decide(robot, policy, expert_action)
        command = OperatorCommand(
            twist=(expert_action[:6] if take else np.zeros(6)).astype(np.float32),
            active=take,
            gripper=float(expert_action[6]) if take else None,
            expert_action=np.clip(expert_action, -1.0, 1.0).astype(np.float32),
            source="scripted",
            stamp=time.monotonic(),
            episode=proposal.episode,
            step=proposal.step,
        )
        self._answers[key] = command
        while len(self._answers) > self._cache_size:
            self._answers.popitem(last=False)
        self.answered += 1
        self.takeovers += take
        return command


def run_operator(
    operator: SimulatedOperator,
    proposals: ProposalSubscriber,
    publisher: CommandPublisher,
    stop: threading.Event,
    *,
    rate: float = 100.0,
    state_source: StateSource | None = None,
) -> None:
    """Answer proposals until `stop` is set; republish the last answer at `rate` Hz meanwhile."""
    period = 1.0 / rate
    last: OperatorCommand | None = None
    while not stop.is_set():
        answered = False
        for proposal in proposals.receive(period):
            state = state_source(proposal) if state_source is not None else None
            if state is None and not proposal.robot:
                log.warning("proposal %s/%d has no robot state; cannot answer", proposal.episode, proposal.step)
                continue
            last = publisher.publish(operator.answer(proposal, state))
            answered = True
        if not answered and last is not None:
            last = publisher.publish(last)
