"""Behaviour cloning, the imitation baselines' learner (HG-DAgger, DAgger, BC from demonstrations).

The same encoder and actor as SAC, trained end to end to regress the actor's deterministic
action tanh(mean) onto the batch's actions (the operator's, the expert's labels, or the
demonstrator's) with a squared error; the action-noise head is not trained, so evaluate these
policies deterministically.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from learner.batch import TensorBatch
from learner.config import LearnerConfig
from learner.networks import Actor, ObservationEncoder


class BCAgent(nn.Module):
    def __init__(self, config: LearnerConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ObservationEncoder(config)
        self.actor = Actor(self.encoder.output_dim, config.hidden_dims, config.action_dim)
        self.generator = torch.Generator().manual_seed(config.seed + 1)
        parameters = [p for p in (*self.encoder.parameters(), *self.actor.parameters()) if p.requires_grad]
        self.optimizers = {"actor": torch.optim.Adam(parameters, lr=config.actor_lr)}

    def update(self, next_batch: Callable[[], TensorBatch]) -> dict[str, float]:
        loss = torch.zeros(())
        for _ in range(self.config.utd_ratio):
            batch = next_batch()
            action = self.actor.deterministic(self.encoder(batch.images, batch.state))
            loss = (action - batch.action).square().sum(dim=-1).mean()
            self.optimizers["actor"].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers["actor"].step()
        return {"loss/bc": loss.item()}
