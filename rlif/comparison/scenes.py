"""Which scenes (cube placements, by reset seed) each part of a sweep sees: evaluation scenes
are fixed and held out; demonstrations and training episodes each have their own ranges."""

from __future__ import annotations

EVAL_BASE = 9_000_000
DEMO_BASE = 5_000_000
TRAIN_BASE = 1_000_000
PER_SEED = 100_000


def eval_scenes(episodes: int) -> list[int]:
    """The evaluation scenes, the same for every run, method and level."""
    return [EVAL_BASE + index for index in range(episodes)]


def demo_scene(seed: int, index: int) -> int:
    return DEMO_BASE + PER_SEED * seed + index


def train_scene(seed: int, episode: int) -> int:
    if episode >= PER_SEED:
        raise ValueError(f"a run has at most {PER_SEED} training episodes")
    return TRAIN_BASE + PER_SEED * seed + episode
