"""What a checkpoint of the `Learner` holds, and putting it back (the files: `learner.checkpoint`).

tensors  {"agent", "optimizers", "generator"}: the agent's `checkpoint_state()`
arrays   "<buffer>.<array>" for each replay buffer (unless `checkpoint_buffers` is off),
         "streams.<array>" for the held-back steps of streamed episodes in flight
meta     update_step, env_steps, episodes, rng (numpy's bit generator state), window (the last
         episodes' summaries), buffers and streams (their JSON state), extra (the caller's)
config   the settings, `LearnerConfig.to_dict()`; their shape fields must match to resume
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from learner.agents.base import Agent
from learner.checkpoint import Checkpoint, IncompatibleCheckpoint, save_checkpoint
from learner.config import LearnerConfig
from learner.episodes import StepAssembler
from learner.metrics import EpisodeWindow
from learner.replay import ReplayBuffer

STREAMS = "streams"


class Learner(Protocol):
    """What a checkpoint holds of the learner (`learner.learner.Learner`)."""

    config: LearnerConfig
    agent: Agent
    buffers: dict[str, ReplayBuffer]
    window: EpisodeWindow
    rng: np.random.Generator
    extra_state: dict[str, Any]
    update_step: int
    env_steps: int
    episodes: int

    @property
    def assembler(self) -> StepAssembler: ...


def save_learner(learner: Learner, root: Path) -> Path:
    """Write a checkpoint of everything needed to continue exactly from here, under `root`."""
    config = learner.config
    arrays: dict[str, np.ndarray] = {}
    buffer_meta: dict[str, Any] = {}
    if config.checkpoint_buffers:
        for name, buffer in learner.buffers.items():
            stored, buffer_meta[name] = buffer.state_dict()
            arrays.update({f"{name}.{key}": array for key, array in stored.items()})
    stream_arrays, stream_meta = learner.assembler.state_dict()
    arrays.update({f"{STREAMS}.{key}": array for key, array in stream_arrays.items()})
    meta = {
        "update_step": learner.update_step,
        "env_steps": learner.env_steps,
        "episodes": learner.episodes,
        "rng": learner.rng.bit_generator.state,
        "window": learner.window.state(),
        "buffers": buffer_meta,
        STREAMS: stream_meta,
        "extra": learner.extra_state,
    }
    return save_checkpoint(
        root,
        learner.update_step,
        config=config.to_dict(),
        meta=meta,
        tensors=learner.agent.checkpoint_state(),
        arrays=arrays,
        keep=config.checkpoint_keep,
    )


def check_compatible(config: LearnerConfig, checkpoint: Checkpoint) -> None:
    """IncompatibleCheckpoint naming every shape setting the checkpoint was written with otherwise."""
    ours = config.shape_fields()
    try:
        theirs = LearnerConfig.from_dict(checkpoint.config).shape_fields()
    except (TypeError, ValueError) as exc:
        raise IncompatibleCheckpoint(f"{checkpoint.path}: unreadable learner settings ({exc})") from None
    different = {name: (theirs[name], ours[name]) for name in ours if theirs[name] != ours[name]}
    if different:
        listed = ", ".join(f"{name}: checkpoint {old!r}, now {new!r}" for name, (old, new) in different.items())
        raise IncompatibleCheckpoint(
            f"{checkpoint.path} was written with other settings ({listed}); use its settings or a new run folder"
        )


def load_learner(learner: Learner, checkpoint: Checkpoint) -> None:
    """Put a checkpoint's state into a learner built with compatible settings."""
    meta = checkpoint.meta
    learner.agent.load_checkpoint_state(checkpoint.tensors)
    for name, buffer_meta in meta["buffers"].items():  # a checkpoint from before the demos buffer has none
        learner.buffers[name].load_state_dict(_prefixed(checkpoint.arrays, name), buffer_meta)
    learner.assembler.load_state_dict(_prefixed(checkpoint.arrays, STREAMS), meta[STREAMS])
    learner.rng.bit_generator.state = meta["rng"]
    learner.window.load_state(meta["window"])
    learner.extra_state = dict(meta.get("extra", {}))
    learner.update_step, learner.env_steps, learner.episodes = meta["update_step"], meta["env_steps"], meta["episodes"]


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays named "<prefix>.<key>", by key."""
    start = f"{prefix}."
    return {key[len(start) :]: array for key, array in arrays.items() if key.startswith(start)}
