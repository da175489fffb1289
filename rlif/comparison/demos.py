"""The demonstrations of a level and seed: episodes driven by the level's scripted expert alone,
recorded once (kept as episode files) and given to every method as prior data."""

from __future__ import annotations

from pathlib import Path

from rlif.comparison.scenes import demo_scene
from rlif.comparison.settings import SweepConfig
from rlif.comparison.world import SimWorld
from teleop.sim_operator import OperatorConfig
from wire.records import EpisodeRecord

DEMO_OPERATOR_SEED = 10_000
"""The expert's noise and missed grasps in the demonstrations: seed + this (apart from the training operator's)."""


def demo_folder(config: SweepConfig, level: str, seed: int) -> Path:
    return config.folder / "demos" / level / f"seed{seed}"


def demonstrations(config: SweepConfig, world: SimWorld, level: str, seed: int) -> list[EpisodeRecord]:
    """The level's demonstrations for this seed, recorded now unless they already are."""
    folder = demo_folder(config, level, seed)
    paths = [folder / f"demo_{index:03d}.npz" for index in range(config.demos)]
    missing = [index for index, path in enumerate(paths) if not path.exists()]
    if missing:
        operator = OperatorConfig(preset=level, model="expert", seed=DEMO_OPERATOR_SEED + seed)
        with world.operated_env(operator) as env:
            for index in missing:
                env.reset(seed=demo_scene(seed, index))
                done = False
                while not done:
                    _, _, terminated, truncated, info = env.step(None)
                    done = terminated or truncated
                info["episode_record"].save(paths[index])
    return [EpisodeRecord.load(path) for path in paths]
