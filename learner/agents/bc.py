"""Behaviour cloning, the agent of the imitation baselines (HG-DAgger, DAgger, BC from demonstrations).

The same encoder and actor as SAC, trained end to end to regress the actor's deterministic
action tanh(mean) onto the batch's actions (the operator's, the expert's labels, or the
demonstrator's) with `imitation_loss`, the mean squared error that SAC's behaviour-cloning term
uses too; the action-noise head is not trained, so evaluate these policies deterministically.
One update is `utd_ratio` gradient steps, each on a fresh batch.
"""

from __future__ import annotations

import torch

from learner.agents.base import NextBatch, PolicyAgent, imitation_loss
from learner.config import LearnerConfig


class BCAgent(PolicyAgent):
    def __init__(self, config: LearnerConfig) -> None:
        super().__init__(config)
        parameters = [p for p in (*self.encoder.parameters(), *self.actor.parameters()) if p.requires_grad]
        self.optimizers = {"actor": torch.optim.Adam(parameters, lr=config.actor_lr)}

    def update(self, next_batch: NextBatch) -> dict[str, float]:
        self.train()
        loss = torch.zeros(())
        for _ in range(self.config.utd_ratio):
            batch = next_batch()
            action = self.actor.deterministic(self.encoder(batch.images, batch.state))
            loss = imitation_loss(action, batch.action)
            self.optimizers["actor"].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers["actor"].step()
        return {"loss/bc": loss.item()}
