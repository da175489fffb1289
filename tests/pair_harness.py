"""Processes of a learner/actor pair for the end-to-end and fault tests: a simulated robot
server in this process, and the learner, operator and actor as `rlif` subprocesses."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from actor.config import ActorConfig
from learner.config import LearnerConfig
from learner.learner import Learner
from learner.service_config import LearnerServiceConfig
from rlif.children import configured_child
from rlif.processes import ChildProcess, ProcessGroup, wait_until
from rlif.sim_config import SimRunConfig
from rlif.sim_settings import Ports, actor_settings, learner_settings, operator_settings
from robot_server.backends.mujoco_sim.config import SimCamerasConfig
from tests.conftest import RunningServer, server_config
from wire.records import EpisodeRecord, onsets
from wire.status import StatusSubscriber

IMAGE = 24
TINY_LEARNER = LearnerConfig(
    image_size=(IMAGE, IMAGE),
    batch_size=32,
    min_transitions=40,
    capacity=5000,
    critic_ensemble=4,
    hidden_dims=(64, 64),
    encoder_channels=8,
    latent_dim=16,
    log_every=10,
    threads=1,
)


class Pair:
    """Server (in process) + learner + operator + actor, with settings written to `folder`."""

    def __init__(
        self,
        folder: Path,
        *,
        mode: Literal["lockstep", "realtime"] = "lockstep",
        episodes: int = 6,
        episode_steps: int = 25,
        operator: bool = True,
        actor_changes: dict[str, Any] | None = None,
    ) -> None:
        self.folder = folder
        self.ports = Ports()
        cameras = SimCamerasConfig(image_height=IMAGE, image_width=IMAGE)
        self.server = RunningServer(
            dataclasses.replace(
                server_config(mode=mode, cameras=cameras), port=self.ports.server, pub_port=self.ports.server_stream
            )
        )
        run = SimRunConfig(
            run_dir=folder / "run", learner=TINY_LEARNER, episode_steps=episode_steps, minutes=0, demos=0
        )
        self.learner_config: LearnerServiceConfig = dataclasses.replace(
            learner_settings(run, self.ports, IMAGE), checkpoint_every=2.0, publish_every=10
        )
        actor = actor_settings(run, self.ports)
        actor = dataclasses.replace(
            actor,
            env=dataclasses.replace(actor.env, mode=mode),
            episodes=episodes,
            episode_dir=folder / "episodes",
            weights_timeout=120.0,
            **(actor_changes or {}),
        )
        if not operator:
            actor = dataclasses.replace(
                actor, intervention=dataclasses.replace(actor.intervention, sync="latest", proposals=None)
            )
        self.actor_config: ActorConfig = actor
        self.operator_config = operator_settings(run, self.ports)
        self.group = ProcessGroup()
        self.status = StatusSubscriber(
            [self.ports.address(self.ports.learner_status), self.ports.address(self.ports.actor_status)]
        )
        self.latest: dict[str, dict[str, Any]] = {}
        self.learner: ChildProcess | None = None
        self.actor: ChildProcess | None = None
        self.operator: ChildProcess | None = None
        self.with_operator = operator

    def start_learner(self) -> ChildProcess:
        self.learner = self._start("learner", self.learner_config, grace=30.0)
        return self.learner

    def start_operator(self) -> ChildProcess:
        self.operator = self._start("operator", self.operator_config)
        return self.operator

    def start_actor(self) -> ChildProcess:
        self.actor = self._start("actor", self.actor_config, grace=20.0)
        return self.actor

    def start(self) -> Pair:
        self.start_learner()
        if self.with_operator:
            self.start_operator()
        self.start_actor()
        return self

    def _start(self, name: str, config: Any, grace: float = 10.0) -> ChildProcess:
        """`rlif NAME --config folder/NAME.yaml`, logging to folder/NAME.log."""
        return self.group.start(configured_child(name, name, config, self.folder, self.folder, grace=grace))

    def poll_status(self) -> dict[str, dict[str, Any]]:
        self.latest.update(self.status.poll(0.05))
        return self.latest

    def wait_for(self, predicate: Callable[[dict[str, dict[str, Any]]], object], timeout: float) -> bool:
        def check() -> bool:
            self.poll_status()
            return bool(predicate(self.latest))

        return wait_until(check, timeout, interval=0.1)

    def wait_actor_done(self, timeout: float) -> int | None:
        assert self.actor is not None
        return self.actor.wait(timeout)

    def stop(self) -> dict[str, int | None]:
        """Stops the children (the newest first) and the server; each name's newest exit code."""
        try:
            return self.group.stop()
        finally:
            self.status.close()
            self.server.stop()

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def kill(child: ChildProcess) -> None:
    child.signal(signal.SIGKILL)
    child.wait(10)


def recorded_episodes(folder: Path) -> list[EpisodeRecord]:
    return [EpisodeRecord.load(path) for path in sorted(folder.glob("*.npz"))]


def expected_transitions(episodes: list[EpisodeRecord]) -> list[tuple[bytes, bytes, float, bool]]:
    """(state, action, RLIF reward, intervened) of every transition, labelled here independently:
    -1 for the step right before a takeover starts, 0 otherwise."""
    rows = []
    for episode in episodes:
        starts = onsets(episode.arrays["intervened"])
        for t in range(len(episode)):
            reward = -1.0 if t + 1 < len(episode) and starts[t + 1] else 0.0
            rows.append(
                (
                    episode.arrays["obs_state"][t].tobytes(),
                    episode.arrays["action"][t].tobytes(),
                    reward,
                    bool(episode.arrays["intervened"][t]),
                )
            )
    return rows


def stored_transitions(run_dir: Path, config: LearnerConfig) -> list[tuple[bytes, bytes, float, bool]]:
    """What the learner's newest checkpoint holds, in the same form."""
    learner = Learner(config, run_dir=run_dir)
    try:
        assert learner.restore() is not None, "no checkpoint to read"
        rows = []
        for name, buffer in learner.buffers.items():
            for slot in buffer.valid_slots():
                stored = buffer.transition(int(slot))
                rows.append(
                    (
                        stored["state"].astype(np.float32).tobytes(),
                        stored["action"].astype(np.float32).tobytes(),
                        stored["reward"],
                        name != "online",
                    )
                )
        return rows
    finally:
        learner.close()
