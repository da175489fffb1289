"""The policy alone, and the expert alone, on the held-out evaluation scenes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from teleop.scripted_expert import ScriptedExpert

Act = Callable[[dict[str, Any], dict[str, Any]], np.ndarray]
"""An action from (observation, info)."""


def episode_successes(
    env: gym.Env, act: Act, scenes: Sequence[int], before_episode: Callable[[], None] = lambda: None
) -> list[bool]:
    """Whether each scene's episode succeeded, acting with `act`."""
    outcomes = []
    for scene in scenes:
        obs, info = env.reset(seed=scene)
        before_episode()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(act(obs, info))
            done = terminated or truncated
        outcomes.append(bool(info.get("success")))
    return outcomes


def policy_success(env: gym.Env, policy: Any, scenes: Sequence[int]) -> float:
    """Success rate of the policy's deterministic actions."""
    return float(np.mean(episode_successes(env, lambda obs, info: policy.act(obs, deterministic=True), scenes)))


def expert_success(env: gym.Env, preset: str, seed: int, scenes: Sequence[int]) -> float:
    """Success rate of the scripted expert alone (its noise and missed grasps drawn from `seed`)."""
    expert = ScriptedExpert(preset, seed=seed)
    return float(np.mean(episode_successes(env, lambda obs, info: expert.act(info["robot"]), scenes, expert.reset)))
