"""Settings of the learner process (`rlif learner`), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from learner.config import LearnerConfig
from wire.ports import LEARNER_STATUS, TRANSITIONS, WEIGHTS, local


@dataclass(frozen=True)
class LearnerServiceConfig:
    """The learner process: its algorithm, where it listens, how often it publishes and saves."""

    learner: LearnerConfig = field(default_factory=LearnerConfig)
    """The algorithm, networks and buffers."""
    run_dir: Path = Path("runs/learner")
    """Checkpoints, metrics (TensorBoard and CSV) and the write-ahead log go here."""
    transitions: str = local(TRANSITIONS)
    """Address to receive actors' transitions on (bound)."""
    weights: str = local(WEIGHTS)
    """Address to publish policy weights on (bound)."""
    status: str = local(LEARNER_STATUS)
    """Address to publish progress on (bound)."""
    publish_every: int = 20
    """Publish the policy every this many updates."""
    checkpoint_every: float = 120.0
    """Seconds between checkpoints (one is also written on shutdown)."""
    utd_cap: float = 1.0
    """At most this many updates per stored environment step."""
    prior_episodes: Path | None = None
    """A folder of recorded episodes (.npz) loaded once as prior data (demonstrations)."""
    max_updates: int = 0
    """Stop after this many updates; 0 runs until stopped."""
    max_log_bytes: int = 1 << 30
    """Checkpoint early when the write-ahead log of transitions grows past this many bytes."""
    max_streams: int = 4096
    """Actor streams (one per actor start) remembered at most; see `wire.reliable`."""
    stream_idle_s: float = 3600.0
    """A stream silent this long, its state in a checkpoint, may be forgotten to make room."""
    curve_secret_key: Path | None = None
    """CurveZMQ secret key file of the learner (`rlif keys`); required to bind beyond loopback."""
    curve_clients: Path | None = None
    """Folder of the public keys of the actors allowed in; required with curve_secret_key."""
