"""The learner's subcommands: `rlif train` (offline, from recorded episodes) and `rlif plot`.

Also the simulation's DAgger relabel: the scripted pick expert asked about every visited state,
from the privileged robot state an actor records with each episode. It lives here, not in
`learner/`, which depends on nothing of the robot side.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from learner.config import LearnerConfig
from wire.records import EpisodeRecord, RecordError

log = logging.getLogger(__name__)

PRIVILEGED_PREFIX = "privileged_"
PRIVILEGED_FIELDS = ("tcp_pos", "tcp_quat", "gripper_width", "sim_cube_pos", "sim_cube_quat", "sim_grasped")
"""The robot state fields (`info["robot"]` of the env) the scripted pick expert reads."""


def privileged_arrays(robot_states: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Arrays `privileged_<field>` (T, ...) for an episode's extra arrays, from the robot state
    the env reported before each step (reset's info, then each step's info but the last)."""
    return {
        PRIVILEGED_PREFIX + name: np.stack([np.asarray(state[name], dtype=np.float64) for state in robot_states])
        for name in PRIVILEGED_FIELDS
    }


def scripted_pick_relabel(record: EpisodeRecord) -> np.ndarray:
    """DAgger labels for the simulated pick: the scripted expert's action at every visited state."""
    from teleop.scripted_pick import scripted_pick_action

    missing = [name for name in PRIVILEGED_FIELDS if PRIVILEGED_PREFIX + name not in record.arrays]
    if missing:
        raise RecordError(
            f"episode {record.meta.get('episode_id')!r} has no privileged state {missing}: "
            "record it with `privileged_arrays` to relabel with the scripted expert"
        )
    labels = []
    for t in range(len(record)):
        state = {name: record.arrays[PRIVILEGED_PREFIX + name][t] for name in PRIVILEGED_FIELDS}
        labels.append(scripted_pick_action(state))
    return np.asarray(labels, dtype=np.float32)


def episode_files(paths: Sequence[Path]) -> list[Path]:
    """The .npz files named, and those inside the folders named, in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.npz")))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} is neither an episode file nor a folder")
    return files


def shaped_like(config: LearnerConfig, record: EpisodeRecord) -> LearnerConfig:
    """The config with cameras, image size, state and action sizes taken from a recorded episode."""
    cameras = tuple(record.cameras)
    image_size = record.arrays[f"obs_{cameras[0]}"].shape[1:3] if cameras else config.image_size
    shaped = dataclasses.replace(
        config,
        cameras=cameras,
        image_size=(int(image_size[0]), int(image_size[1])),
        state_dim=int(record.arrays["obs_state"].shape[1]),
        action_dim=int(record.arrays["action"].shape[1]),
    )
    if shaped.shape_fields() != config.shape_fields():
        log.info("observation shapes from the episodes: cameras %s, images %s", cameras, shaped.image_size)
    return shaped


@dataclass(frozen=True)
class TrainConfig:
    """Options of `rlif train`."""

    run_dir: Path = Path("runs/learner")
    """Run folder: metrics.csv, tensorboard/, checkpoints/, policy.npz, PNG curves."""
    demos: tuple[Path, ...] = ()
    """Demonstration episodes (files or folders of .npz): prior data, all to the demo buffer."""
    episodes: tuple[Path, ...] = ()
    """Recorded actor episodes: policy steps to the online buffer, operator steps to the intervention buffer."""
    updates: int = 1000
    """Train until this many updates in total (a resumed run counts its earlier ones)."""
    checkpoint_every: int = 500
    """Updates between checkpoints (one is always written at the end)."""
    resume: bool = True
    """Continue from the newest checkpoint in run_dir, if there is one."""
    scripted_expert: bool = False
    """DAgger: relabel with the sim's scripted pick expert from `privileged_*` arrays (default: `expert_action`)."""
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    """Learner settings; cameras, image size and state/action sizes follow the episodes."""


def train(config: TrainConfig) -> None:
    """Train offline from recorded episodes, with checkpoints, metrics and learning curves."""
    from learner.learner import Learner
    from learner.plot import plot_run
    from learner.policy import POLICY_FILE, save_policy_file

    demos, episodes = episode_files(config.demos), episode_files(config.episodes)
    if not demos and not episodes:
        raise SystemExit("rlif train: no episodes given (--demos or --episodes)")
    first = EpisodeRecord.load((demos or episodes)[0])
    settings = shaped_like(config.learner, first)
    learner = Learner(settings, config.run_dir, relabel=scripted_pick_relabel if config.scripted_expert else None)
    restored = learner.restore() if config.resume else None
    if restored is not None and settings.checkpoint_buffers:
        log.info("resumed at update %d with the buffers of the checkpoint; episodes not reloaded", restored)
    else:
        for path in demos:
            learner.add_episode(EpisodeRecord.load(path), prior=True)
        for path in episodes:
            learner.add_episode(EpisodeRecord.load(path))
        log.info("loaded %d demonstrations and %d episodes", len(demos), len(episodes))
    if not learner.ready():
        raise SystemExit(f"rlif train: {settings.algorithm} has nothing to learn from in these episodes")
    try:
        while learner.update_step < config.updates:
            metrics = learner.update()
            if learner.update_step % config.checkpoint_every == 0:
                learner.save_checkpoint()
                log.info("update %d: %s", learner.update_step, {k: round(v, 4) for k, v in metrics.items()})
        if learner.update_step % config.checkpoint_every:  # the loop saved the last update already otherwise
            learner.save_checkpoint()
        save_policy_file(config.run_dir / POLICY_FILE, learner.export_policy(), learner.config)
    finally:
        learner.close()
    for path in plot_run(config.run_dir):
        print(path)


@dataclass(frozen=True)
class PlotConfig:
    run_dir: tyro.conf.Positional[Path]
    """A learner run folder (it holds metrics.csv)."""


def plot(config: PlotConfig) -> None:
    """Render PNG learning curves (success and intervention rate against env steps and wall time)."""
    from learner.plot import plot_run

    try:
        written = plot_run(config.run_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"rlif plot: {exc}") from None
    for path in written:
        print(path)
