"""`rlif record`: operator-driven episodes saved as demonstrations, one `.npz` per episode.

The env runs with no policy: the arm holds still until the operator acts, and every step
the operator drives is recorded as an intervention (source human, keyboard or scripted). Each
episode is written atomically as a `wire.records.EpisodeRecord` (see that module for the
fields) to `OUT/<episode_id>.npz`, where the learner loads it as prior data. A person drives
through `rlif teleop` (the right SpaceMouse button or Enter/Backspace ends an episode as a
success or failure); `--scripted PRESET` runs a scripted expert in this process instead,
publishing on the same streams as any operator.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import zmq

from actor.env import EnvConfig, RobotEnv
from actor.intervention import NO_POLICY, InterventionConfig, InterventionWrapper
from teleop.publishers import CommandPublisher
from teleop.sim_operator import OperatorConfig, run_operator
from teleop.stream import DEFAULT_COMMANDS, DEFAULT_PROPOSALS, ProposalSubscriber
from wire.records import EpisodeRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordConfig:
    """Options of `rlif record`."""

    episodes: int = 10
    """Episodes to record."""
    out: Path = Path("runs/demos")
    """Folder for the episode files."""
    server: str = "tcp://127.0.0.1:5555"
    """Request address of the robot server."""
    mode: Literal["auto", "lockstep", "realtime"] = "auto"
    """Env mode: 'auto' is lockstep for a scripted operator and real time for a person."""
    images: bool = True
    """Record camera images (False: state only)."""
    max_episode_steps: int = 100
    """Episode length limit in steps."""
    commands: str = DEFAULT_COMMANDS
    """The operator's command stream (`rlif teleop` binds it)."""
    proposals: str = DEFAULT_PROPOSALS
    """Where to bind the proposal stream."""
    hold_time: float = 0.5
    """Seconds the operator keeps control after a person's last input."""
    scripted: str | None = None
    """Run a scripted expert with this preset (perfect, good, medium, poor) instead of waiting for a person."""
    seed: int = 0
    """Seed of the scene resets (episode i uses seed + i) and of a scripted expert."""
    actor_id: str = "recorder"
    """Recorded in each episode's metadata."""


class _ScriptedOperatorThread:
    """A simulated expert answering proposals from a thread of this process, on the usual streams."""

    def __init__(self, config: RecordConfig, context: zmq.Context) -> None:
        self._operator = OperatorConfig(preset=config.scripted or "perfect", model="expert", seed=config.seed).build()
        self._proposals = ProposalSubscriber(config.proposals, context=context)
        self._publisher = CommandPublisher(config.commands, context=context)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scripted-operator", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            run_operator(self._operator, self._proposals, self._publisher, self._stop)
        finally:
            self._proposals.close()
            self._publisher.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


def record_demonstrations(config: RecordConfig) -> list[Path]:
    mode = config.mode if config.mode != "auto" else ("lockstep" if config.scripted else "realtime")
    env_config = EnvConfig(
        server=config.server, mode=mode, images=config.images, max_episode_steps=config.max_episode_steps
    )
    context: zmq.Context[zmq.Socket] = zmq.Context.instance()
    operator = None
    env = InterventionWrapper(
        RobotEnv(env_config),
        InterventionConfig(
            commands=config.commands,
            proposals=config.proposals,
            hold_time=config.hold_time,
            actor_id=config.actor_id,
            sync="answer" if config.scripted and mode == "lockstep" else "latest",
        ),
        context=context,
    )
    saved: list[Path] = []
    try:
        if config.scripted:
            operator = _ScriptedOperatorThread(config, context)
        for index in range(config.episodes):
            env.reset(seed=config.seed + index)
            print(f"episode {index + 1}/{config.episodes}: {env.episode_id} ready for the operator", flush=True)
            done = False
            while not done:
                _, _, terminated, truncated, info = env.step(NO_POLICY)
                done = terminated or truncated
            record: EpisodeRecord = info["episode_record"]
            path = record.save(config.out / f"{env.episode_id}.npz")
            saved.append(path)
            success = record.arrays["success"][-1]
            print(
                f"  {len(record)} steps, operator drove {record.arrays['intervened'].mean():.0%}, "
                f"{'success' if success == 1 else 'failure' if success == 0 else 'outcome unknown'} -> {path}",
                flush=True,
            )
    finally:
        if operator is not None:
            operator.stop()
        env.close()
    return saved
