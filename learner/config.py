"""`LearnerConfig`: every setting of the learner, one docstring each (tyro reads them)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Algorithm = Literal["rlif", "rlpd", "hg_dagger", "dagger", "bc"]
"""rlif: SAC on intervention rewards. rlpd: SAC on the sparse task reward (the oracle reference).
hg_dagger: behaviour cloning on the operator's actions. dagger: behaviour cloning on expert labels
of every visited state (simulation). bc: behaviour cloning on demonstrations only. Each is a
module of `learner.algorithms` and a row of its table; this list gives the command line's choices."""
Encoder = Literal["conv", "resnet18"]
ImitatedRows = Literal["demos", "operator", "both"]
"""Rows of a batch the behaviour-cloning term of rlif/rlpd imitates: the demonstrations (prior
data), the operator's steps, or both."""


@dataclass(frozen=True)
class LearnerConfig:
    """Settings of the learner. Fields marked (shape) must match a checkpoint to resume from it."""

    algorithm: Algorithm = "rlif"
    """(shape) rlif | rlpd | hg_dagger | dagger | bc; see `learner.algorithms`."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """(shape) Camera names, one image encoder each; () for state-only observations."""
    image_size: tuple[int, int] = (128, 128)
    """(shape) Height and width of every camera image."""
    state_dim: int = 13
    """(shape) Length of the proprio state vector."""
    action_dim: int = 7
    """(shape) Length of the action vector; actions lie in [-1, 1]."""

    encoder: Encoder = "conv"
    """(shape) Image encoder: a small conv net, or a ResNet-18 (torchvision parameter names)."""
    encoder_channels: int = 32
    """(shape) Channels of the small conv encoder."""
    latent_dim: int = 64
    """(shape) Features per camera after the encoder's projection."""
    pretrained_weights: Path | None = None
    """ResNet-18 only: a local torchvision-format ImageNet state dict (.pth), loaded with weights_only."""
    freeze_encoder: bool = False
    """Keep the encoder's convolutions fixed (a pretrained ResNet, typically); the projection still learns."""
    hidden_dims: tuple[int, ...] = (256, 256)
    """(shape) Hidden layer sizes of the actor and of every critic."""
    critic_ensemble: int = 10
    """(shape) Number of critics (RLPD: 10)."""
    critic_subset: int = 2
    """Target = minimum over this many critics drawn at random each update (RLPD: 2)."""

    discount: float = 0.97
    """Discount factor gamma."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    actor_lr: float = 3e-4
    """Learning rate of the actor (and of behaviour cloning)."""
    critic_lr: float = 3e-4
    """Learning rate of the critics and the image encoders (SAC; behaviour cloning trains its encoders at actor_lr)."""
    temperature_lr: float = 3e-4
    """Learning rate of the SAC temperature."""
    init_temperature: float = 0.1
    """Initial SAC temperature alpha."""
    target_entropy: float | None = None
    """SAC target entropy; None means -action_dim / 2."""
    utd_ratio: int = 1
    """Critic updates per `update()` call, each on a fresh batch (update-to-data ratio); one actor update follows.
    Behaviour cloning: gradient steps per `update()` call."""
    batch_size: int = 256
    """Transitions per gradient step."""
    augment_pad: int = 4
    """DrQ random shift: images move by up to this many pixels (edges replicated); 0 turns it off."""
    bc_weight: float = 0.0
    """rlif/rlpd: weight of a behaviour-cloning term on the actions of the `bc_rows` rows, in the
    actor loss (scaled by the critics' magnitude as in TD3+BC, at least 1) and in the image
    encoders' loss; 0 is SAC alone, as in the paper. It makes a policy of a few demonstrations
    while the critics learn."""
    bc_rows: ImitatedRows = "demos"
    """Which rows the behaviour-cloning term imitates: demos, operator (its steps), or both. A
    suboptimal operator's own actions are better learnt from through the critics than copied."""
    conservative_weight: float = 0.0
    """rlif/rlpd: weight of a conservative critic term (CQL, Kumar et al. 2020): each critic step
    pushes Q down at the policy's and at uniform random actions (their log-sum-exp) and up at
    the batch's own actions. The policy's own actions are rarely executed while an operator holds
    control, so nothing else corrects the critics' optimism about them. 0: off, as in the paper."""
    backup_entropy: bool = True
    """Subtract alpha * log pi of the next action in the critic target (soft Q backup)."""

    intervention_fraction: float = 0.5
    """Share of each batch drawn from the operator's steps and the demonstrations together (RLPD's
    symmetric sampling: 0.5); the rest comes from the policy's own steps."""
    demo_fraction: float = 0.5
    """Part of the `intervention_fraction` share drawn from the demonstrations (prior data), the
    rest from the operator's steps; while either is empty, the other gives the whole share."""
    task_reward: bool = False
    """rlif: add the sparse task reward (+1 on the first successful step) to the intervention labels."""
    intervention_penalty: float = -1.0
    """rlif: reward of the policy transition that made the operator take over."""
    capacity: int = 100_000
    """Steps kept by each buffer (online, intervention, demos); each stored episode's final observation
    takes one too."""
    disk_dir: Path | None = None
    """Keep the buffers in memory-mapped files in this folder instead of RAM (long real-robot runs)."""
    min_transitions: int = 1
    """Transitions that must be stored before `update()` may run."""

    seed: int = 0
    """Seed of network initialisation, sampling and augmentation."""
    threads: int = 0
    """torch threads; 0 leaves torch's default (one per core)."""
    keep_freed_memory: bool = True
    """Have glibc reuse freed memory instead of unmapping it (process-wide; see learner.allocator)."""
    checkpoint_keep: int = 3
    """Checkpoints kept on disk; older ones are removed after each successful save."""
    checkpoint_buffers: bool = True
    """Store the replay buffers in checkpoints, so that a resumed run samples exactly as before."""
    log_every: int = 100
    """Write training scalars every this many updates."""
    episode_window: int = 20
    """Episodes averaged for the success and intervention rates."""

    def __post_init__(self) -> None:
        problems = []
        if self.state_dim < 0 or self.action_dim < 1:
            problems.append("state_dim must be >= 0 and action_dim >= 1")
        if not self.cameras and self.state_dim == 0:
            problems.append("an observation needs cameras or a state")
        if len(set(self.cameras)) != len(self.cameras):
            problems.append(f"cameras {self.cameras} repeat a name")
        if len(self.image_size) != 2 or min(self.image_size) < 16:
            problems.append(f"image_size {self.image_size} must be (height, width), each >= 16")
        if not 1 <= self.critic_subset <= self.critic_ensemble:
            problems.append("critic_subset must be between 1 and critic_ensemble")
        if not 0.0 <= self.intervention_fraction <= 1.0 or not 0.0 <= self.demo_fraction <= 1.0:
            problems.append("intervention_fraction and demo_fraction must lie in [0, 1]")
        if self.bc_weight < 0 or self.conservative_weight < 0:
            problems.append("bc_weight and conservative_weight must be >= 0")
        if not 0.0 < self.discount <= 1.0 or not 0.0 < self.tau <= 1.0:
            problems.append("discount and tau must lie in (0, 1]")
        if self.utd_ratio < 1 or self.batch_size < 1 or self.capacity < 2 or self.checkpoint_keep < 1:
            problems.append("utd_ratio, batch_size, checkpoint_keep must be >= 1 and capacity >= 2")
        if self.augment_pad < 0 or self.augment_pad * 2 >= min(self.image_size):
            problems.append("augment_pad must be >= 0 and smaller than half the image")
        if self.pretrained_weights is not None and self.encoder != "resnet18":
            problems.append("pretrained_weights needs encoder='resnet18'")
        if problems:
            raise ValueError("invalid LearnerConfig: " + "; ".join(problems))

    @property
    def entropy_target(self) -> float:
        return -self.action_dim / 2 if self.target_entropy is None else self.target_entropy

    def shape_fields(self) -> dict[str, Any]:
        """The settings that fix the networks' and buffers' shapes: a checkpoint must match them."""
        return {name: value for name, value in self.to_dict().items() if name in SHAPE_FIELDS}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (paths as strings, tuples as lists)."""
        plain: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            plain[item.name] = value
        return plain

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LearnerConfig:
        known = {item.name: item for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown learner settings {unknown}")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name in ("cameras", "image_size", "hidden_dims"):
                value = tuple(value)
            elif name in ("pretrained_weights", "disk_dir") and value is not None:
                value = Path(value)
            kwargs[name] = value
        return cls(**kwargs)


SHAPE_FIELDS = (
    "algorithm",
    "cameras",
    "image_size",
    "state_dim",
    "action_dim",
    "encoder",
    "encoder_channels",
    "latent_dim",
    "hidden_dims",
    "critic_ensemble",
    "capacity",
)
