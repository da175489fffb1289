"""One run of the sweep: a method at one expert level and seed, from the same demonstrations
and for the same number of environment steps as every other, evaluated along the way.

Interactive methods collect episodes with their current policy while the level's value-based
operator takes over (`SimWorld.operated_env`, the `rlif sim` components) and learn after each
episode (`updates_per_step` updates per step taken); SAC methods act stochastically, the
imitation methods deterministically (their noise head is untrained). BC learns from the
demonstrations alone, with as many updates. At `eval_points` evenly spaced points the policy
alone (deterministic, no operator) runs `eval_episodes` held-out scenes. The result is written
as one JSON file at the end; a run cut short leaves none and starts over when the sweep resumes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learner.learner import Learner
from learner.policy import Policy
from rlif.comparison.demos import demonstrations
from rlif.comparison.evaluation import policy_success
from rlif.comparison.scenes import eval_scenes, train_scene
from rlif.comparison.settings import METHODS, RunSpec, SweepConfig, run_learner_config
from rlif.comparison.world import SimWorld
from teleop.sim_operator import OperatorConfig
from wire.records import EpisodeRecord

log = logging.getLogger(__name__)
SAC_ALGORITHMS = ("rlif", "rlpd")


def result_path(config: SweepConfig, spec: RunSpec) -> Path:
    return config.folder / "runs" / spec.level / spec.method / f"seed{spec.seed}.json"


def eval_targets(config: SweepConfig) -> list[int]:
    """Environment steps (interactive) at which the policy is evaluated."""
    return [round(config.env_steps * (index + 1) / config.eval_points) for index in range(config.eval_points)]


class Run:
    """A run in progress: its learner, policy, evaluation env and what it has measured so far."""

    def __init__(self, config: SweepConfig, spec: RunSpec, world: SimWorld) -> None:
        self.config, self.spec, self.world = config, spec, world
        self.method = METHODS[spec.method]
        self.learner_config = run_learner_config(config, spec)
        self.learner = Learner(self.learner_config)
        self.policy = Policy(self.learner_config, seed=spec.seed)
        self.eval_env = world.env()
        self.scenes = eval_scenes(config.eval_episodes)
        self.env_steps = self.updates = 0
        self.curve: list[dict[str, float]] = []
        self.episodes: list[dict[str, float]] = []
        self.seconds = {"env": 0.0, "update": 0.0, "eval": 0.0}

    def learn(self, updates: int) -> None:
        started = time.perf_counter()
        for _ in range(updates):
            if not self.learner.ready():
                break
            self.learner.update()
            self.updates += 1
        self.seconds["update"] += time.perf_counter() - started

    def evaluate(self) -> None:
        started = time.perf_counter()
        self.policy.load_arrays(self.learner.export_policy())
        success = policy_success(self.eval_env, self.policy, self.scenes)
        self.curve.append({"env_steps": self.env_steps, "updates": self.updates, "success": success})
        self.seconds["eval"] += time.perf_counter() - started
        log.info(
            "%s: %d steps, %d updates: %.0f %% success", self.spec.name, self.env_steps, self.updates, 100 * success
        )

    def collect_episode(self, env: Any, episode: int) -> EpisodeRecord:
        started = time.perf_counter()
        self.policy.load_arrays(self.learner.export_policy())
        deterministic = self.method.algorithm not in SAC_ALGORITHMS or self.config.sac_collects_deterministically
        obs, info = env.reset(seed=train_scene(self.spec.seed, episode))
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(self.policy.act(obs, deterministic=deterministic))
            done = terminated or truncated
        self.seconds["env"] += time.perf_counter() - started
        record: EpisodeRecord = info["episode_record"]
        return record

    def interactive(self) -> None:
        targets, owed = eval_targets(self.config), 0.0
        operator = OperatorConfig(
            preset=self.spec.level, model="value", delta=self.config.operator_delta, seed=self.spec.seed
        )
        with self.world.operated_env(operator) as env:
            episode = 0
            while self.env_steps < self.config.env_steps:
                record = self.collect_episode(env, episode)
                episode += 1
                self.learner.add_episode(record)
                self.env_steps += len(record)
                self.episodes.append(
                    {
                        "env_steps": self.env_steps,
                        "steps": len(record),
                        "intervened": float(record.arrays["intervened"].mean()),
                        "takeovers": int(record.arrays["intervention_onset"].sum()),
                        "success": float(record.arrays["success"][-1] == 1),
                    }
                )
                owed += len(record) * self.config.updates_per_step
                self.learn(int(owed))
                owed -= int(owed)
                while targets and self.env_steps >= targets[0]:
                    targets.pop(0)
                    self.evaluate()

    def offline(self) -> None:
        for target in eval_targets(self.config):
            self.learn(round(target * self.config.updates_per_step) - self.updates)
            self.evaluate()

    def result(self, demos: list[EpisodeRecord], wall: float) -> dict[str, Any]:
        return {
            "level": self.spec.level,
            "method": self.spec.method,
            "seed": self.spec.seed,
            "setting": self.config.setting,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "demos": len(demos),
            "demo_steps": sum(len(record) for record in demos),
            "demo_success": float(np.mean([record.arrays["success"][-1] == 1 for record in demos])),
            "final_success": self.curve[-1]["success"],
            "eval_episodes": self.config.eval_episodes,
            "curve": self.curve,
            "episodes": self.episodes,
            "wall_s": wall,
            "seconds": self.seconds,
            "learner": self.learner_config.to_dict(),
        }


def save_json_atomically(path: Path, value: Any) -> None:
    """Write JSON to a temporary file and rename it: a killed process leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(value, file)
    os.replace(temporary, path)


@contextlib.contextmanager
def trained_run(config: SweepConfig, spec: RunSpec) -> Iterator[tuple[Run, list[EpisodeRecord]]]:
    """`spec` run to its end from its demonstrations; its learner stays open inside the block."""
    torch.set_num_threads(1)
    with SimWorld(config) as world:
        demos = demonstrations(config, world, spec.level, spec.seed)
        run = Run(config, spec, world)
        try:
            for record in demos:
                run.learner.add_episode(record, prior=True)
            run.interactive() if run.method.interactive else run.offline()
            yield run, demos
        finally:
            run.eval_env.close()
            run.learner.close()


def run_one(config: SweepConfig, spec: RunSpec) -> dict[str, Any]:
    """Runs `spec` unless its result exists; returns the result."""
    path = result_path(config, spec)
    if path.exists():
        return dict(json.loads(path.read_text()))
    started = time.perf_counter()
    with trained_run(config, spec) as (run, demos):
        result = run.result(demos, time.perf_counter() - started)
    save_json_atomically(path, result)
    return result
