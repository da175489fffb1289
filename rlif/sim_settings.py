"""What each process of `rlif sim` is told: one settings dataclass per child (the robot server,
the learner, the simulated operator, the actor, the demonstration recorder and the evaluation),
all on free loopback ports, written to YAML by the launcher (`rlif.children`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from actor.config import ActorConfig, EvalConfig
from actor.env import EnvConfig
from actor.intervention import InterventionConfig
from actor.record import RecordConfig
from learner.service_config import LearnerServiceConfig
from rlif.children import sim_server_config
from rlif.processes import free_port
from rlif.sim_config import DEMOS_FOLDER, SimRunConfig
from rlif.teleop_cli import OperatorCliConfig
from robot_server.backends.mujoco_sim.config import SimConfig
from robot_server.config import ServerConfig
from teleop.sim_operator import OperatorConfig
from wire.ports import local

ACTOR_ID = "sim-actor"
DEMO_SEED_OFFSET = 10_000
"""The demonstrations' scenes: seed + this (apart from the training scenes)."""
EVAL_SEED_OFFSET = 20_000
"""The evaluation's scenes: seed + this, the same for every snapshot."""


@dataclass
class Ports:
    server: int = field(default_factory=free_port)
    server_stream: int = field(default_factory=free_port)
    transitions: int = field(default_factory=free_port)
    weights: int = field(default_factory=free_port)
    learner_status: int = field(default_factory=free_port)
    actor_status: int = field(default_factory=free_port)
    commands: int = field(default_factory=free_port)
    proposals: int = field(default_factory=free_port)

    @staticmethod
    def address(port: int) -> str:
        return local(port)


def server_settings(config: SimRunConfig, ports: Ports, image_size: int) -> ServerConfig:
    """`rlif server` in lockstep, the cube placed within `scene_range` of its placement ranges."""
    return sim_server_config(
        ports.server,
        ports.server_stream,
        image_size,
        mode="lockstep",
        seed=config.seed,
        arm=SimConfig(scene_range=config.scene_range),
    )


def learner_settings(config: SimRunConfig, ports: Ports, image_size: int) -> LearnerServiceConfig:
    cameras = ("front", "wrist") if config.images else ()
    learner = dataclasses.replace(
        config.learner, cameras=cameras, image_size=(image_size, image_size), seed=config.seed
    )
    return LearnerServiceConfig(
        learner=learner,
        run_dir=config.run_dir,
        transitions=ports.address(ports.transitions),
        weights=ports.address(ports.weights),
        status=ports.address(ports.learner_status),
        utd_cap=config.utd_cap,
        prior_episodes=config.run_dir / DEMOS_FOLDER if config.demos else None,
    )


def operator_settings(config: SimRunConfig, ports: Ports) -> OperatorCliConfig:
    return OperatorCliConfig(
        operator=OperatorConfig(preset=config.preset, model=config.model, seed=config.seed),
        proposals=ports.address(ports.proposals),
        bind=ports.address(ports.commands),
    )


def actor_settings(config: SimRunConfig, ports: Ports) -> ActorConfig:
    return ActorConfig(
        actor_id=ACTOR_ID,
        env=EnvConfig(
            server=ports.address(ports.server),
            mode="lockstep",
            images=config.images,
            max_episode_steps=config.episode_steps,
        ),
        intervention=InterventionConfig(
            commands=ports.address(ports.commands), proposals=ports.address(ports.proposals), sync="answer"
        ),
        transitions=ports.address(ports.transitions),
        weights=ports.address(ports.weights),
        learner_status=ports.address(ports.learner_status),
        status=ports.address(ports.actor_status),
        seed=config.seed,
    )


def record_settings(config: SimRunConfig, ports: Ports) -> RecordConfig:
    """Scripted demonstrations by the `good` expert into run_dir/demos (its own operator streams)."""
    return RecordConfig(
        scripted="good",
        episodes=config.demos,
        out=config.run_dir / DEMOS_FOLDER,
        server=ports.address(ports.server),
        max_episode_steps=config.episode_steps,
        commands=ports.address(free_port()),
        proposals=ports.address(free_port()),
        seed=config.seed + DEMO_SEED_OFFSET,
        images=config.images,
    )


def eval_settings(config: SimRunConfig, ports: Ports, policy: Path, report: Path) -> EvalConfig:
    """`rlif eval` of a policy file: deterministic, no operator, the same scenes for every policy."""
    actor = EvalConfig().actor
    return EvalConfig(
        actor=dataclasses.replace(
            actor,
            env=dataclasses.replace(
                actor.env,
                server=ports.address(ports.server),
                mode="lockstep",
                max_episode_steps=config.episode_steps,
                images=config.images,
            ),
            intervention=dataclasses.replace(actor.intervention, commands=ports.address(ports.commands)),
        ),
        policy=policy,
        episodes=config.eval_episodes,
        seed=config.seed + EVAL_SEED_OFFSET,
        report=report,
    )
