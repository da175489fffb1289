"""What a comparison sweep runs: its settings (`SweepConfig`, parsed by tyro), the methods it
compares and the expert levels, and each run's learner settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from learner.config import Algorithm, LearnerConfig
from rlif.sim_config import SIM_LEARNER

Setting = Literal["state", "image"]
CubeFrame = Literal["world", "gripper"]
StateInputs = Literal["metres", "standardised"]
LEVELS = ("good", "medium", "poor")
"""The scripted expert's presets, strongest first (nominal success about 90 %, 50 %, 20 %)."""
PROPRIO_DIM = 13
CUBE_POSE_DIM = 5
"""The state setting's cube pose: position (3) and the yaw as sin, cos of 4 x yaw (a cube looks
the same every quarter turn)."""
CAMERAS = ("front", "wrist")


@dataclass(frozen=True)
class Method:
    name: str
    algorithm: Algorithm
    sim_recipe: bool
    """Learns with `rlif sim`'s behaviour-cloning and conservative critic terms (False: neither,
    the paper's recipe)."""
    interactive: bool
    """Collects its own episodes with the operator (False: learns from the demonstrations alone)."""
    label: str


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method("rlif", "rlif", False, True, "RLIF (paper recipe)"),
        Method("rlif_bc", "rlif", True, True, "RLIF + BC and CQL terms (rlif sim)"),
        Method("hg_dagger", "hg_dagger", False, True, "HG-DAgger"),
        Method("dagger", "dagger", False, True, "DAgger"),
        Method("bc", "bc", False, False, "BC (demos only)"),
        Method("rlpd", "rlpd", False, True, "RLPD, task reward (oracle)"),
    )
}


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: every method x expert level x seed, each a small run on the full pick task."""

    out: Path = Path("runs/rlif_vs_dagger")
    """Folder of the sweep's runs, demonstrations and expert measurements (a rerun resumes there)."""
    report: Path | None = Path("docs/results")
    """Where the table, curves and summary go (None: only into `out`)."""
    setting: Setting = "state"
    """state: proprio and the cube pose; image: proprio and the two cameras (no cube pose)."""
    cube_frame: CubeFrame = "world"
    """State setting: the cube's position in the world, or relative to the gripper (cube minus
    gripper position, world axes; a diagnostic)."""
    state_inputs: StateInputs = "metres"
    """State setting: the state vector as measured (metres, radians, m/s), or standardised, each
    entry shifted and scaled by fixed constants to about zero mean and unit spread (a diagnostic;
    world frame only)."""
    levels: tuple[str, ...] = LEVELS
    """Expert presets (the rows of the table)."""
    methods: tuple[str, ...] = tuple(METHODS)
    """Methods (the columns): rlif, rlif_bc, hg_dagger, dagger, bc, rlpd."""
    seeds: int = 3
    """Seeds per method and level (0 .. seeds - 1)."""
    env_steps: int = 6000
    """Environment steps each interactive run takes (demonstrations and evaluation not counted)."""
    updates_per_step: float = 1.0
    """Learner updates per environment step (BC makes as many as the interactive runs)."""
    demos: int = 20
    """Episodes of the level's expert, recorded once per level and seed, given to every method."""
    episode_steps: int = 100
    """Steps per episode (the presets' success rates are measured at this length)."""
    eval_episodes: int = 50
    """Episodes per evaluation of the policy alone (deterministic) on the held-out scenes."""
    eval_points: int = 5
    """Evaluations along each run, evenly spaced, the last at its end."""
    expert_episodes: int = 50
    """Episodes of the expert alone per seed, on the evaluation scenes, for its success rate."""
    image_size: int = 64
    """Image setting: camera image height and width."""
    workers: int = 2
    """Runs at a time, one process each (one torch thread each)."""
    operator_delta: float = 0.5
    """The value-based operator's margin, in steps of task progress (`OperatorConfig.delta`)."""
    rlif_bc_weight: float = SIM_LEARNER.bc_weight
    """The behaviour-cloning weight of the rlif_bc column (`rlif sim`'s by default)."""
    sac_collects_deterministically: bool = False
    """SAC methods collect with their deterministic action instead of a sampled one (a diagnostic)."""
    learner: LearnerConfig = SIM_LEARNER
    """The learner's settings (algorithm, bc_weight, observation shapes and seed are set per run)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.methods) - set(METHODS)) + sorted(set(self.levels) - set(LEVELS))
        if unknown:
            raise ValueError(f"unknown methods or levels {unknown}; methods {list(METHODS)}, levels {list(LEVELS)}")
        if min(self.seeds, self.env_steps, self.eval_episodes, self.eval_points, self.workers) < 1:
            raise ValueError("seeds, env_steps, eval_episodes, eval_points and workers must be >= 1")
        if self.images and self.cube_frame != "world":
            raise ValueError("--cube-frame applies to the state setting only (the image setting has no cube pose)")
        if self.state_inputs != "metres" and (self.images or self.cube_frame != "world"):
            raise ValueError("--state-inputs standardised applies to the state setting, cube in the world frame, only")

    @property
    def images(self) -> bool:
        return self.setting == "image"

    @property
    def name(self) -> str:
        """The setting, with the cube's frame and the state's inputs where they are not the defaults
        (their runs are kept apart)."""
        name = self.setting if self.cube_frame == "world" else f"{self.setting}_cube_{self.cube_frame}"
        return name if self.state_inputs == "metres" else f"{name}_{self.state_inputs}"

    @property
    def folder(self) -> Path:
        """This setting's runs, demonstrations and expert measurements."""
        return self.out / self.name

    @property
    def total_updates(self) -> int:
        return round(self.env_steps * self.updates_per_step)


@dataclass(frozen=True)
class RunSpec:
    """One run of the sweep."""

    level: str
    method: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.level}/{self.method}/seed{self.seed}"


def run_learner_config(config: SweepConfig, spec: RunSpec) -> LearnerConfig:
    method = METHODS[spec.method]
    return dataclasses.replace(
        config.learner,
        algorithm=method.algorithm,
        bc_weight=config.rlif_bc_weight if method.sim_recipe else 0.0,
        conservative_weight=config.learner.conservative_weight if method.sim_recipe else 0.0,
        cameras=CAMERAS if config.images else (),
        image_size=(config.image_size, config.image_size) if config.images else config.learner.image_size,
        state_dim=PROPRIO_DIM if config.images else PROPRIO_DIM + CUBE_POSE_DIM,
        seed=spec.seed,
        threads=1,
        checkpoint_buffers=False,
    )


def all_runs(config: SweepConfig) -> list[RunSpec]:
    """Every run, interleaved so that a sweep cut short has some seeds of every method."""
    return [
        RunSpec(level, method, seed)
        for seed in range(config.seeds)
        for level in config.levels
        for method in config.methods
    ]
