"""The policy as the actor runs it: image encoders and actor, on the CPU, from named arrays.

Weights travel as a flat dict of named float32 numpy arrays ("encoder.<...>", "actor.<...>"),
the safetensors-style layout the wire format can send: no pickle, nothing executable.

    policy = Policy(config)                      # the learner's LearnerConfig
    policy.load_arrays(learner.export_policy())  # or arrays received over the wire
    action = policy.act(observation)             # env observation dict -> float32 (action_dim,)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from learner.config import LearnerConfig
from learner.networks import Actor, ObservationEncoder
from learner.snapshots import POLICY_FILE as POLICY_FILE
from wire.records import save_npz_atomically

PolicyArrays = dict[str, np.ndarray]
PARTS = ("encoder", "actor")


class ObservationMismatch(ValueError):
    """A robot's observations do not have the shapes the policy was trained on."""


def describe_observations(state: tuple[int, ...], images: Mapping[str, tuple[int, ...]]) -> str:
    """Observation shapes in words: "state (13,), images front 64x64, wrist 64x64"."""
    cameras = ", ".join(f"{name} {shape[0]}x{shape[1]}" for name, shape in images.items())
    return f"state {tuple(state)}, images {cameras or 'none'}"


def policy_arrays(encoder: nn.Module, actor: nn.Module) -> PolicyArrays:
    """Every floating-point parameter and buffer of the encoder and actor, as float32 copies."""
    arrays: PolicyArrays = {}
    for part, module in zip(PARTS, (encoder, actor), strict=True):
        for name, tensor in module.state_dict().items():
            if tensor.is_floating_point():
                arrays[f"{part}.{name}"] = tensor.detach().to(torch.float32).numpy().copy()
    return arrays


def load_policy_arrays(encoder: nn.Module, actor: nn.Module, arrays: Mapping[str, np.ndarray]) -> None:
    """Copy named arrays into the encoder and actor; ValueError names any array that does not fit."""
    expected = {
        f"{part}.{name}": tensor
        for part, module in zip(PARTS, (encoder, actor), strict=True)
        for name, tensor in module.state_dict().items()
        if tensor.is_floating_point()
    }
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(f"policy arrays do not fit this config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, tensor in expected.items():
        array = np.asarray(arrays[name])
        if array.dtype != np.float32 or tuple(array.shape) != tuple(tensor.shape):
            expected_shape = tuple(tensor.shape)
            raise ValueError(f"policy array {name!r} is {array.dtype}{array.shape}, expected float32{expected_shape}")
        if not np.isfinite(array).all():
            raise ValueError(f"policy array {name!r} holds non-finite values")
    with torch.no_grad():
        for name, tensor in expected.items():
            tensor.copy_(torch.from_numpy(np.asarray(arrays[name])))


class Policy:
    """Inference only: observation dict in, action out. Not thread-safe; one per actor loop."""

    def __init__(self, config: LearnerConfig, arrays: Mapping[str, np.ndarray] | None = None, seed: int = 0) -> None:
        # the weights come from `arrays`; a pretrained-weights file is the learner's business only
        self.config = dataclasses.replace(config, pretrained_weights=None)
        self.encoder = ObservationEncoder(self.config).eval()
        self.actor = Actor(self.encoder.output_dim, self.config.hidden_dims, self.config.action_dim).eval()
        self.generator = torch.Generator().manual_seed(seed)
        if arrays is not None:
            self.load_arrays(arrays)

    def load_arrays(self, arrays: Mapping[str, np.ndarray]) -> None:
        load_policy_arrays(self.encoder, self.actor, arrays)

    def arrays(self) -> PolicyArrays:
        return policy_arrays(self.encoder, self.actor)

    def check_observations(self, state: tuple[int, ...], images: Mapping[str, tuple[int, ...]]) -> None:
        """Raises ObservationMismatch, naming both sides' shapes, unless observations with this state
        shape and these images (camera: (H, W, 3)) fit the policy; cameras it does not use are ignored."""
        config = self.config
        expected = {camera: (*config.image_size, 3) for camera in config.cameras}
        fits = tuple(state) == (config.state_dim,) and all(
            tuple(images.get(camera, ())) == shape for camera, shape in expected.items()
        )
        if not fits:
            raise ObservationMismatch(
                f"the policy expects {describe_observations((config.state_dim,), expected)}; "
                f"the server gives {describe_observations(state, images)}"
            )

    def act(self, observation: Mapping[str, Any], deterministic: bool = True) -> np.ndarray:
        """The action for one env observation {"state": (S,), "images": {camera: (H, W, 3) uint8}}:
        tanh(mean) when deterministic, else a sample of the policy's distribution."""
        state, images = observation_tensors(self.config, observation)
        action = policy_action(self.encoder, self.actor, images, state, deterministic, self.generator)
        return action[0].numpy().astype(np.float32)


def policy_action(
    encoder: nn.Module,
    actor: Actor,
    images: Mapping[str, torch.Tensor],
    state: torch.Tensor,
    deterministic: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Actions (B, action_dim) of a batch of observations, without gradients: tanh(mean) when
    deterministic, else a sample of the policy's distribution."""
    with torch.inference_mode():
        features = encoder(images, state)
        if deterministic:
            return actor.deterministic(features)
        action, _ = actor.sample(features, generator)
        return action


def observation_tensors(
    config: LearnerConfig, observation: Mapping[str, Any]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A batch of one from an env observation, checked against the config."""
    state = np.asarray(observation.get("state", np.zeros(0)), dtype=np.float32)
    if state.shape != (config.state_dim,) or not np.isfinite(state).all():
        raise ValueError(f"observation 'state' must be {config.state_dim} finite numbers, got shape {state.shape}")
    images: dict[str, torch.Tensor] = {}
    given = observation.get("images", {})
    for camera in config.cameras:
        if camera not in given:
            raise ValueError(f"observation has no image of camera {camera!r}")
        image = np.asarray(given[camera])
        if image.dtype != np.uint8 or image.shape != (*config.image_size, 3):
            raise ValueError(
                f"camera {camera!r} image must be uint8 {(*config.image_size, 3)}, got {image.dtype}{image.shape}"
            )
        images[camera] = torch.from_numpy(np.ascontiguousarray(image))[None]
    return torch.from_numpy(state)[None], images


POLICY_CONFIG_KEY = "__config__"
"""Name of the JSON-encoded LearnerConfig inside a policy .npz file."""


def save_policy_file(path: Path, arrays: dict[str, np.ndarray], config: LearnerConfig) -> Path:
    """A policy file: its named arrays and, under POLICY_CONFIG_KEY, its settings as JSON, written
    atomically."""
    encoded = np.frombuffer(json.dumps(config.to_dict()).encode(), dtype=np.uint8)
    return save_npz_atomically(path, {**arrays, POLICY_CONFIG_KEY: encoded})


def load_policy_file(path: Path) -> Policy:
    """The policy of a file written by `save_policy_file` (no pickle: plain arrays and JSON)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    raw = arrays.pop(POLICY_CONFIG_KEY, None)
    if raw is None:
        raise ValueError(f"{path} holds no policy settings ({POLICY_CONFIG_KEY}); write it with save_policy_file")
    return Policy(LearnerConfig.from_dict(json.loads(raw.tobytes().decode())), arrays)
