"""What the critics of a trained run prefer: on the states of each buffer (demonstrations,
operator steps, policy steps), the critics' mean Q of the stored action, of the policy's own
deterministic action and of the stored action with noise; how often the stored action wins; and
how far the policy's action lies from it, per action dimension.

A critic that values the policy's untried actions above the demonstrated ones everywhere
(`data_beats_policy` near 0) while not telling a noisy action from the stored one
(`data_beats_noisy` near 0.5) leads its actor away from the demonstrations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from learner.agents.sac import SACAgent
from learner.replay import ReplayBuffer
from rlif.comparison.run import SAC_ALGORITHMS, trained_run
from rlif.comparison.settings import METHODS, RunSpec, SweepConfig

ACTION_NOISE = 0.3


def critic_preferences(agent: SACAgent, buffer: ReplayBuffer, generator: torch.Generator) -> dict[str, Any]:
    """The figures above for the states of one state-only buffer."""
    transitions = np.flatnonzero(buffer.has_next[: buffer.size])
    state = torch.from_numpy(buffer.state[transitions])
    stored = torch.from_numpy(buffer.action[transitions])
    noisy = (stored + ACTION_NOISE * torch.randn(stored.shape, generator=generator)).clamp(-1.0, 1.0)
    agent.eval()
    with torch.no_grad():
        features = agent.encoder({}, state)
        policy = agent.actor.deterministic(features)
        q_stored = agent.critic(features, stored).mean(0)
        q_policy = agent.critic(features, policy).mean(0)
        q_noisy = agent.critic(features, noisy).mean(0)
    return {
        "states": int(transitions.size),
        "q_stored": round(q_stored.mean().item(), 3),
        "q_policy": round(q_policy.mean().item(), 3),
        "q_noisy": round(q_noisy.mean().item(), 3),
        "data_beats_policy": round((q_stored > q_policy).float().mean().item(), 3),
        "data_beats_noisy": round((q_stored > q_noisy).float().mean().item(), 3),
        "policy_distance": [round(float(value), 2) for value in (policy - stored).abs().mean(0)],
        "reward_mean": round(float(buffer.reward[transitions].mean()), 3),
    }


def probe(config: SweepConfig, spec: RunSpec) -> dict[str, Any]:
    """Trains `spec` as the sweep would (state setting, SAC methods), then measures its critics."""
    if config.images:
        raise ValueError("the probe reads state-only buffers: use --setting state")
    if METHODS[spec.method].algorithm not in SAC_ALGORITHMS:
        raise ValueError(f"{spec.method} has no critics; probe rlif, rlif_bc or rlpd")
    with trained_run(config, spec) as (run, _):
        agent = run.learner.agent
        assert isinstance(agent, SACAgent)
        generator = torch.Generator().manual_seed(spec.seed)
        buffers = {
            name: critic_preferences(agent, buffer, generator)
            for name, buffer in run.learner.buffers.items()
            if len(buffer)
        }
    return {"run": spec.name, "env_steps": run.env_steps, "success": run.curve[-1]["success"], "buffers": buffers}
