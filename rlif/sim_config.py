"""The options of `rlif sim` and `rlif demo`, and the learner's defaults for a run against the
simulation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from learner.config import LearnerConfig

SIM_LEARNER = LearnerConfig(
    image_size=(64, 64),
    batch_size=128,
    min_transitions=500,
    capacity=60_000,
    log_every=50,
    discount=0.9,
    init_temperature=0.02,
    bc_weight=2.5,
    bc_rows="both",
    conservative_weight=1.0,
)
"""Learner defaults of the sim run, chosen for visible progress within 20 minutes on a 2-core CPU:
small images and batches, a shorter horizon, little initial exploration noise, a
behaviour-cloning term on the demonstrations' and the operator's actions, and a conservative
critic term (`--learner.bc-weight 0 --learner.conservative-weight 0` for SAC alone, as in the
paper). Without the last two the policy alone made 4 % on the full task at the good level,
where behaviour cloning alone made 71 % (docs/results)."""

DEMOS_FOLDER = "demos"
"""Inside run_dir: the scripted demonstrations, recorded first, that the learner loads as prior data."""


@dataclass(frozen=True)
class SimRunConfig:
    """The learner/actor pair against the simulated arm and a simulated operator."""

    minutes: float = 20.0
    """Run for this long, then stop and plot (0: until Ctrl-C)."""
    run_dir: Path = Path("runs/sim")
    """Settings, logs, TensorBoard, metrics.csv, checkpoints and plots of the run."""
    fresh: bool = False
    """Start over: delete run_dir first instead of resuming from its checkpoint."""
    preset: str = "medium"
    """The simulated operator's expert: perfect, good (~90 %), medium (~50 %), poor (~20 %)."""
    model: str = "value"
    """When the operator takes over: value (value-based), random, or expert (always)."""
    images: bool = True
    """Observe the front and wrist cameras (False: proprio state only)."""
    episode_steps: int = 60
    """Steps per episode (6 s of simulated time)."""
    learner: LearnerConfig = SIM_LEARNER
    """The learner's settings (cameras and image size follow `images` and the server)."""
    scene_range: float = 0.4
    """Fraction of the simulation's cube-placement ranges used (position and yaw, about their centres;
    the server's `arm.scene_range`); 1.0 is the full task."""
    eval_episodes: int = 50
    """At the end, episodes of the policy alone (deterministic, no operator) per evaluated
    snapshot, on a fresh server; 0 skips the evaluation. 50 gives a 95 % interval of about
    +-14 points at 50 %, enough to tell a collapse from noise (10 gives 17-69 % for 4/10)."""
    eval_points: int = 6
    """Policy snapshots evaluated at the end, spread over the run (the first and the last
    included); their success rates, with 95 % intervals, are drawn on the success plot. Six
    points of 50 episodes take one to two and a half minutes on a 2-core CPU."""
    demos: int = 20
    """Demonstrations by the `good` scripted expert, recorded first and loaded as prior data."""
    utd_cap: float = 1.0
    """At most this many updates per environment step; the actor waits for the learner beyond it."""
    seed: int = 0
    """Seed of the operator, the scenes and the learner."""
    verbose: bool = False
    """Also print the processes' logs (they always go to run_dir/logs)."""


@dataclass(frozen=True)
class SimDemoConfig:
    """Options of `rlif demo`."""

    episodes: int = 10
    """Scripted pick episodes, each with a new random cube pose."""
    seed: int = 0
    """Seed of the cube poses."""
    images: bool = True
    """Observe both cameras through the env (as a policy would)."""
    image_size: int = 128
    """Camera image height and width, pixels."""
    port: int = 0
    """Request port of the server it starts (0: a free one)."""
    out: Path = Path("runs/sim")
    """Folder for the GIF of the first episode."""
    gif: bool = True
    """Save the cameras of the first episode as an animated GIF."""
