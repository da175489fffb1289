"""Settings of the actor process (`rlif actor`) and of an evaluation (`rlif eval`), importable
without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actor.env import EnvConfig
from actor.intervention import InterventionConfig
from wire.ports import ACTOR_STATUS, LEARNER_STATUS, TRANSITIONS, WEIGHTS, local


@dataclass(frozen=True)
class ActorConfig:
    """The actor process: a robot env, a policy from the learner, an operator's corrections."""

    actor_id: str = "actor-0"
    """Name of this actor among the learner's actors (one per robot)."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The robot: server address, mode, cameras, episode length."""
    intervention: InterventionConfig = field(default_factory=InterventionConfig)
    """The operator's streams and the takeover rules."""
    transitions: str = local(TRANSITIONS)
    """The learner's transition address (the learner binds it)."""
    weights: str = local(WEIGHTS)
    """The learner's weights address (the learner binds it)."""
    learner_status: str = local(LEARNER_STATUS)
    """The learner's status stream, read for pacing in lockstep."""
    status: str = local(ACTOR_STATUS)
    """Where this actor publishes its progress (binds)."""
    deterministic: bool = False
    """Act with the policy's mean instead of sampling (sampling explores; training wants it)."""
    episodes: int = 0
    """Episodes to run; 0 runs until stopped."""
    max_pending: int = 5000
    """Steps held for an absent learner before the actor stops stepping and waits."""
    pace: bool = True
    """Lockstep only: keep within `pace_slack` steps of what the learner's updates use."""
    pace_slack: int = 200
    """Lockstep pacing: steps the actor may run ahead of the learner."""
    weights_timeout: float = 300.0
    """Seconds to wait for the learner's first weights before giving up."""
    robot_retry: float = 30.0
    """Seconds to try reconnecting to a lost robot server before stopping."""
    episode_dir: Path | None = None
    """Also save every episode there (wire.records format)."""
    seed: int = 0
    """Seed of the env resets and the policy's sampling."""
    realtime_priority: int = 0
    """Real-time mode: run the actor under SCHED_FIFO at this priority (1-99; needs root or
    CAP_SYS_NICE), so that it wakes on time on a busy machine; 0 keeps normal scheduling."""
    learner_public_key: Path | None = None
    """The learner's CurveZMQ public key file, when the learner listens beyond loopback."""
    client_secret_key: Path | None = None
    """This actor's CurveZMQ secret key file (its public key in the learner's clients folder)."""


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: the policy alone (no learning, no operator), deterministic actions."""

    actor: ActorConfig = field(default_factory=lambda: ActorConfig(deterministic=True))
    """The robot and the learner's weights address (or use --policy); with --run, the run's."""
    policy: Path | None = None
    """A policy file (`rlif train` writes policy.npz) instead of the learner's weights."""
    run: Path | None = None
    """A run folder of `rlif sim`: evaluate its final policy (or --policy) on a lockstep simulated
    server of its own, with the run's settings (its settings/server.yaml and settings/actor.yaml:
    cameras, image size, episode length, scene range) in place of --actor's."""
    scene_range: float | None = None
    """With --run: the fraction of the simulation's cube-placement ranges the scenes use, about
    their centres (default: the run's; 1.0 is the full task)."""
    episodes: int = 20
    """Episodes to run."""
    video_dir: Path | None = None
    """Write an MP4 per episode there, cameras side by side, the controller drawn on them."""
    seed: int = 1000
    """Seed of the episodes' scene randomisation."""
    report: Path | None = None
    """Also write the report there as JSON (episodes, successes, success_rate, assisted, ...)."""
