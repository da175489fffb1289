"""The one interface of an agent (`Agent`), and what the SAC and behaviour-cloning agents share.

Every agent trains an observation encoder and a tanh-Gaussian actor, the policy that goes out to
the actors as named arrays (`learner.policy`); what else it trains (critics, a temperature) and
how is its own business, behind `update`.

A checkpoint stores `checkpoint_state()`: {"agent": the module's state dict, "optimizers":
{name: optimiser state dict}, "generator": the state of its sampling noise}, tensors only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from learner.batch import TensorBatch
from learner.config import LearnerConfig
from learner.networks import Actor, ObservationEncoder
from learner.policy import PolicyArrays, load_policy_arrays, policy_action, policy_arrays

NextBatch = Callable[[], TensorBatch]
"""A fresh training batch on every call: an update with a UTD ratio above 1 asks for several."""


class Agent(Protocol):
    """What the learner needs of the networks an algorithm trains."""

    def update(self, next_batch: NextBatch) -> dict[str, float]:
        """One update (`utd_ratio` gradient steps, each on `next_batch()`); the last step's scalars."""
        ...

    def act(self, images: dict[str, torch.Tensor], state: torch.Tensor, *, deterministic: bool = True) -> torch.Tensor:
        """Actions (B, action_dim) of a batch of observations, without gradients."""
        ...

    def export_policy(self) -> PolicyArrays:
        """The encoder and actor as named float32 arrays, for `learner.policy.Policy`."""
        ...

    def import_policy(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Start the encoder and actor from exported arrays (ValueError when they do not fit)."""
        ...

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly from here, as tensors and plain values."""
        ...

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        """Put back what `checkpoint_state` returned."""
        ...


class PolicyAgent(nn.Module):
    """The encoder, the actor, named optimisers and a noise generator; `update` is the subclass's."""

    def __init__(self, config: LearnerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ObservationEncoder(config)
        self.actor = Actor(self.encoder.output_dim, config.hidden_dims, config.action_dim)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def update(self, next_batch: NextBatch) -> dict[str, float]:
        raise NotImplementedError

    def act(self, images: dict[str, torch.Tensor], state: torch.Tensor, *, deterministic: bool = True) -> torch.Tensor:
        return policy_action(self.encoder, self.actor, images, state, deterministic, self.generator)

    def export_policy(self) -> PolicyArrays:
        return policy_arrays(self.encoder, self.actor)

    def import_policy(self, arrays: Mapping[str, np.ndarray]) -> None:
        load_policy_arrays(self.encoder, self.actor, arrays)

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "agent": self.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "generator": self.generator.get_state(),
        }

    def load_checkpoint_state(self, state: Mapping[str, Any]) -> None:
        self.load_state_dict(state["agent"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.generator.set_state(state["generator"])


def imitation_loss(action: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The behaviour-cloning loss of every agent (logged as `loss/bc`): the squared error of the
    deterministic action, averaged over rows and action dimensions."""
    return (action - target).square().mean()
