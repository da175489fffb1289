"""`rlif eval`: a policy alone on the robot, deterministic actions, no learning; a success report
and, optionally, one annotated MP4 per episode. An operator may still take over (safety); such
episodes are reported as assisted."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from actor.config import EvalConfig
from actor.env import RobotEnv
from actor.intervention import InterventionWrapper
from actor.video import EpisodeVideo
from learner.config import LearnerConfig
from learner.metrics import wilson_interval
from learner.policy import ObservationMismatch, Policy, load_policy_file
from wire.weights import WeightsSubscriber


def policy_from_learner(address: str, timeout: float) -> tuple[Policy, int]:
    subscriber = WeightsSubscriber(address)
    try:
        weights = subscriber.latest(timeout)
        if weights is None:
            raise TimeoutError(f"no weights from the learner at {address} within {timeout:.0f} s")
        return Policy(LearnerConfig.from_dict(weights.data["config"]), weights.arrays), weights.version
    finally:
        subscriber.close()


@dataclass
class EvalReport:
    episodes: int = 0
    successes: int = 0
    assisted: int = 0
    steps: list[int] = field(default_factory=list)
    videos: list[Path] = field(default_factory=list)
    weights_version: int = -1

    @property
    def success_rate(self) -> float:
        return self.successes / max(1, self.episodes)

    def summary(self) -> str:
        source = "policy file" if self.weights_version < 0 else f"policy weights v{self.weights_version}"
        low, high = wilson_interval(self.successes, self.episodes)
        lines = [
            f"{source}: {self.successes}/{self.episodes} successes ({100 * self.success_rate:.0f} %, "
            f"95 % interval {100 * low:.0f}-{100 * high:.0f} %), mean episode length {np.mean(self.steps or [0]):.1f} "
            "steps" + (f", {self.assisted} episodes with an operator takeover" if self.assisted else "")
        ]
        lines += [f"video: {path}" for path in self.videos]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "successes": self.successes,
            "success_rate": self.success_rate,
            "assisted": self.assisted,
            "weights_version": self.weights_version,
        }


def evaluate(config: EvalConfig) -> EvalReport:
    actor = config.actor
    if config.policy is not None:
        policy, version = load_policy_file(config.policy), -1
    else:
        policy, version = policy_from_learner(actor.weights, actor.weights_timeout)
    intervention = dataclasses.replace(actor.intervention, sync="latest", proposals=None, actor_id=actor.actor_id)
    robot = RobotEnv(actor.env)
    try:
        policy.check_observations(*robot.observation_shapes())
    except ObservationMismatch:
        robot.close()
        raise
    env = InterventionWrapper(robot, intervention)
    env.policy_version = version
    report = EvalReport(weights_version=version)
    rng = np.random.default_rng(config.seed)
    try:
        for episode in range(config.episodes):
            obs, info = env.reset(seed=int(rng.integers(2**31)))
            video = None
            if config.video_dir is not None and "images" in obs:
                video = EpisodeVideo(config.video_dir / f"episode_{episode:03d}.mp4", fps=round(1 / robot.period))
            done, steps, assisted = False, 0, False
            while not done:
                action = policy.act(obs, deterministic=True)
                seen = obs
                obs, _, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                intervened = bool(info["intervention"]["intervened"])
                assisted = assisted or intervened
                if video is not None:
                    video.add(seen["images"], intervened=intervened, caption=f"episode {episode} step {steps}")
                steps += 1
            if video is not None:
                outcome = "success" if info.get("success") else "no success"
                video.add(obs["images"], intervened=False, caption=f"episode {episode}: {outcome}")
                report.videos.append(video.close())
            report.episodes += 1
            report.successes += bool(info.get("success"))
            report.assisted += assisted
            report.steps.append(steps)
    finally:
        env.close()
    return report
