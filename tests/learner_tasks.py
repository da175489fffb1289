"""A tiny image task for the learner's tests: reach a red target seen only in a 32x32 image.

The agent's position (2,) is the state; the target's position is drawn per episode and shows
only as a red disc in the `front` camera. Actions move the agent by up to STEP per axis. The
episode terminates on reaching the target (success) and is truncated after MAX_STEPS.

`run_episode` plays one episode with a policy and, optionally, a simulated operator who takes
over when a policy step fails to bring the agent closer, drives with the expert for a few steps
and hands back: the RLIF setting. It returns the episode as a `wire.records.EpisodeRecord`
whose extra array `target` (T, 2) holds the privileged target position (for DAgger relabels).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from learner.config import LearnerConfig
from wire.records import EpisodeRecord, StepRecord, onsets

SIZE = 32
STEP = 0.25
MAX_STEPS = 12
REACHED = 0.2
TAKEOVER_STEPS = 2
MIN_PROGRESS = 0.05


def task_config(**overrides: object) -> LearnerConfig:
    settings: dict[str, object] = {
        "cameras": ("front",),
        "image_size": (SIZE, SIZE),
        "state_dim": 2,
        "action_dim": 2,
        "augment_pad": 2,
        "batch_size": 128,
        "capacity": 20_000,
        "log_every": 50,
    }
    settings.update(overrides)
    return LearnerConfig(**settings)  # type: ignore[arg-type]


def render(target: np.ndarray) -> np.ndarray:
    image = np.full((SIZE, SIZE, 3), 40, np.uint8)
    centre = (target + 1.0) / 2.0 * (SIZE - 1)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    disc = (rows - centre[1]) ** 2 + (cols - centre[0]) ** 2 <= 9.0
    image[disc] = (230, 30, 30)
    return image


def expert_action(position: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.clip((target - position) / STEP, -1.0, 1.0).astype(np.float32)


Policy = Callable[[dict], np.ndarray]


def run_episode(
    policy: Policy | None, rng: np.random.Generator, *, operator: bool, episode_id: str = "e"
) -> EpisodeRecord:
    """One episode; `policy` None lets the expert drive every step (a demonstration)."""
    target = rng.uniform(-0.8, 0.8, 2).astype(np.float32)
    position = rng.uniform(-0.8, 0.8, 2).astype(np.float32)
    image = render(target)
    steps: list[StepRecord] = []
    intervened: list[bool] = []
    takeover_left = 0
    previous_distance: float | None = None
    for t in range(MAX_STEPS):
        distance = float(np.linalg.norm(target - position))
        policy_step_went_wrong = previous_distance is not None and previous_distance - distance < MIN_PROGRESS
        if operator and takeover_left == 0 and policy_step_went_wrong and not intervened[-1]:
            takeover_left = TAKEOVER_STEPS
        observation: dict[str, Any] = {"state": position.copy(), "images": {"front": image}}
        proposed = policy(observation) if policy is not None else np.full(2, np.nan, np.float32)
        driving = policy is None or takeover_left > 0
        action = expert_action(position, target) if driving else np.asarray(proposed, np.float32)
        takeover_left = max(takeover_left - 1, 0)
        intervened.append(driving)
        position = np.clip(position + STEP * action, -1.0, 1.0).astype(np.float32)
        previous_distance = distance
        reached = float(np.linalg.norm(target - position)) < REACHED
        steps.append(
            StepRecord(
                state=observation["state"],
                images={"front": image},
                policy_action=np.asarray(proposed, np.float32),
                action=action,
                intervened=driving,
                intervention_onset=False,
                source="scripted" if driving else "policy",
                terminated=reached,
                truncated=not reached and t == MAX_STEPS - 1,
                success=reached,
            )
        )
        if reached:
            break
    for step, onset in zip(steps, onsets(intervened[: len(steps)]), strict=True):
        step.intervention_onset = bool(onset)
    record = EpisodeRecord.from_steps(steps, position, {"front": image}, episode_id=episode_id, actor_id="task")
    record.arrays["target"] = np.repeat(target[None], len(steps), axis=0)
    return record


def relabel_with_expert(record: EpisodeRecord) -> np.ndarray:
    """DAgger's relabel for this task: the expert's action at every visited state."""
    positions = record.arrays["obs_state"][:-1]
    return np.stack([expert_action(p, g) for p, g in zip(positions, record.arrays["target"], strict=True)])


def evaluate(policy: Policy, episodes: int = 40, seed: int = 123) -> float:
    """Success rate of the policy alone (no operator)."""
    rng = np.random.default_rng(seed)
    successes = 0
    for _ in range(episodes):
        record = run_episode(policy, rng, operator=False)
        successes += int(record.arrays["terminated"][-1])
    return successes / episodes


def random_policy(rng: np.random.Generator) -> Policy:
    return lambda observation: rng.uniform(-1, 1, 2).astype(np.float32)


def step_of(record: EpisodeRecord, t: int) -> StepRecord:
    arrays = record.arrays
    return StepRecord(
        state=arrays["obs_state"][t],
        images={camera: arrays[f"obs_{camera}"][t] for camera in record.cameras},
        policy_action=arrays["policy_action"][t],
        action=arrays["action"][t],
        intervened=bool(arrays["intervened"][t]),
        intervention_onset=bool(arrays["intervention_onset"][t]),
        source="policy",
        terminated=bool(arrays["terminated"][t]),
        truncated=bool(arrays["truncated"][t]),
        success=bool(arrays["success"][t]),
    )


def final_observation(record: EpisodeRecord) -> dict:
    return {
        "state": record.arrays["obs_state"][-1],
        "images": {camera: record.arrays[f"obs_{camera}"][-1] for camera in record.cameras},
    }
