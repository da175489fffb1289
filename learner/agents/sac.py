"""Soft actor-critic in the RLPD recipe (Ball et al. 2023) with DrQ-style image encoders.

One `update` = `utd_ratio` critic steps, each on a fresh batch, then one actor and one
temperature step on the last batch:

    features  = encoder(shifted obs)                      # gradients from the critic step only
    next      = encoder(shifted next obs)                 # no gradient, encoded once
    a', logp' = actor(next)
    target    = r + gamma (1 - terminated) (min over a random 2 of the E target critics of
                Q'(next, a') - alpha logp')
    critic    = mean over the E critics of (Q(features, a) - target)^2
                + w bc                                    # the encoders learn from both
                + c (log-sum-exp over a~pi, a~uniform of Q(features, .) - log 2 - Q(features, a))
                                                          # conservative term (CQL), c = conservative_weight
    actor     = alpha logp(a~pi | features) - mean over critics of Q(features, a)   (features detached)
                + w max(|Q|, 1) bc                        # TD3+BC's scaling, at least 1
    alpha     = alpha (-logp - target_entropy)
    bc        = mean (tanh(mean of pi(features)) - a)^2 over the imitated rows (`bc_rows`) and the
                action dimensions (`imitation_loss`, as the BC agent's), w = bc_weight

Each image batch is encoded once and its features shared by all critics; the ensemble is one
set of batched weight tensors (`CriticEnsemble`), the target critics a Polyak-averaged copy.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from learner.agents.base import NextBatch, PolicyAgent, imitation_loss
from learner.batch import TensorBatch
from learner.config import LearnerConfig
from learner.networks import CriticEnsemble


class SACAgent(PolicyAgent):
    def __init__(self, config: LearnerConfig) -> None:
        super().__init__(config)
        critic_in = self.encoder.output_dim + config.action_dim
        self.critic = CriticEnsemble(config.critic_ensemble, critic_in, config.hidden_dims)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(config.init_temperature)))
        critic_parameters = [p for p in (*self.encoder.parameters(), *self.critic.parameters()) if p.requires_grad]
        self.optimizers = {
            "critic": torch.optim.Adam(critic_parameters, lr=config.critic_lr),
            "actor": torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr),
            "temperature": torch.optim.Adam([self.log_temperature], lr=config.temperature_lr),
        }

    def update(self, next_batch: NextBatch) -> dict[str, float]:
        self.train()
        metrics: dict[str, float] = {}
        for _ in range(self.config.utd_ratio):
            batch = next_batch()
            features, metrics = self._critic_step(batch)
        metrics.update(self._actor_and_temperature_step(features.detach(), batch))
        return metrics

    def _critic_step(self, batch: TensorBatch) -> tuple[torch.Tensor, dict[str, float]]:
        config = self.config
        features = self.encoder(batch.images, batch.state)
        with torch.no_grad():
            next_features = self.encoder(batch.next_images, batch.next_state)
            next_action, next_log_prob = self.actor.sample(next_features, self.generator)
            members = torch.randperm(config.critic_ensemble, generator=self.generator)[: config.critic_subset]
            next_q = self.target_critic(next_features, next_action, members).min(dim=0).values
            if config.backup_entropy:
                next_q = next_q - self.log_temperature.exp() * next_log_prob
            target = batch.reward + config.discount * (1.0 - batch.terminated) * next_q
        q = self.critic(features, batch.action)
        loss = (q - target).square().mean()
        metrics: dict[str, float] = {}
        if config.conservative_weight > 0:
            gap = self._conservative_gap(features, batch, q)
            loss = loss + config.conservative_weight * gap
            metrics["q/conservative_gap"] = gap.item()
        imitate = self._imitated_rows(batch)
        if imitate is not None:
            # the encoders also learn what the imitated actions need to see; the actor's gradient
            # from this term is dropped (its own step clears it)
            loss = loss + self.config.bc_weight * self._bc_loss(features, batch, imitate)
        optimizer = self.optimizers["critic"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            for target_parameter, parameter in zip(
                self.target_critic.parameters(), self.critic.parameters(), strict=True
            ):
                target_parameter.lerp_(parameter, config.tau)
        metrics |= {
            "loss/critic": loss.item(),
            "q/mean": q.mean().item(),
            "q/ensemble_std": q.std(dim=0).mean().item(),
            "q/target_mean": target.mean().item(),
            "batch/reward_mean": batch.reward.mean().item(),
        }
        return features, metrics

    def _conservative_gap(self, features: torch.Tensor, batch: TensorBatch, q_data: torch.Tensor) -> torch.Tensor:
        """How much the critics value the policy's and random actions above the batch's actions
        (a soft maximum of the two, so log 2 is the gap of three equal values)."""
        with torch.no_grad():
            policy_action, _ = self.actor.sample(features.detach(), self.generator)
            uniform = torch.rand(batch.action.shape, generator=self.generator, dtype=batch.action.dtype) * 2 - 1
        others = torch.stack([self.critic(features, policy_action), self.critic(features, uniform)])
        return (torch.logsumexp(others, dim=0) - math.log(2.0) - q_data).mean()

    def _imitated_rows(self, batch: TensorBatch) -> torch.Tensor | None:
        imitate = batch.imitate
        if self.config.bc_weight <= 0 or imitate is None or not bool(imitate.any()):
            return None
        return imitate

    def _bc_loss(self, features: torch.Tensor, batch: TensorBatch, imitate: torch.Tensor) -> torch.Tensor:
        return imitation_loss(self.actor.deterministic(features[imitate]), batch.action[imitate])

    def _actor_and_temperature_step(self, features: torch.Tensor, batch: TensorBatch) -> dict[str, float]:
        self.critic.requires_grad_(False)
        bc_loss = torch.zeros(())
        try:
            action, log_prob = self.actor.sample(features, self.generator)
            q = self.critic(features, action).mean(dim=0)
            temperature = self.log_temperature.exp().detach()
            actor_loss = (temperature * log_prob - q).mean()
            imitate = self._imitated_rows(batch)
            if imitate is not None:
                bc_loss = self._bc_loss(features, batch, imitate)
                # scaled with the critics, as TD3+BC, but never below one reward unit: while the
                # critics still know nothing (Q near 0), the demonstrations lead
                scale = q.abs().mean().detach().clamp(min=1.0)
                actor_loss = actor_loss + self.config.bc_weight * scale * bc_loss
            self.optimizers["actor"].zero_grad(set_to_none=True)
            actor_loss.backward()
            self.optimizers["actor"].step()
        finally:
            self.critic.requires_grad_(True)
        entropy = -log_prob.detach().mean()
        temperature_loss = self.log_temperature.exp() * (entropy - self.config.entropy_target)
        self.optimizers["temperature"].zero_grad(set_to_none=True)
        temperature_loss.backward()
        self.optimizers["temperature"].step()
        return {
            "loss/actor": actor_loss.item(),
            "loss/bc": bc_loss.item(),
            "loss/temperature": temperature_loss.item(),
            "temperature": self.log_temperature.exp().item(),
            "entropy": entropy.item(),
        }
