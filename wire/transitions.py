"""The messages an actor streams to the learner, one per step, and their decoding.

A step message: data {"kind": "step", "actor_id", "episode_id", "step", "intervened",
"intervention_onset", "source", "terminated", "truncated", "success" (true/false/null),
"stamp", "wall_time", "policy_version", "final"} and arrays "state", "image/<camera>",
"policy_action", "action"; the episode's last step (final) adds "final_state" and
"final_image/<camera>", the observation after it. An "abandon" message {"kind": "abandon",
"actor_id", "episode_id"} tells the learner an episode will not finish (the robot went away).

`read_transition` checks either kind, and with a `StepShape` (the receiver's cameras, image size,
state and action lengths) everything a receiver would refuse later, so that a message that passes
can be logged before it is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wire.codec import Message, SizeLimits
from wire.records import SOURCES, StepRecord


class TransitionError(ValueError):
    """A step message lacks a field or holds a value of the wrong kind."""


def step_message(
    actor_id: str,
    episode_id: str,
    step_index: int,
    record: StepRecord,
    final_observation: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    data = {
        "kind": "step",
        "actor_id": actor_id,
        "episode_id": episode_id,
        "step": step_index,
        "intervened": bool(record.intervened),
        "intervention_onset": bool(record.intervention_onset),
        "source": record.source,
        "terminated": bool(record.terminated),
        "truncated": bool(record.truncated),
        "success": None if record.success is None else bool(record.success),
        "stamp": float(record.stamp),
        "wall_time": float(record.wall_time),
        "policy_version": int(record.policy_version),
        "final": final_observation is not None,
    }
    arrays: dict[str, np.ndarray] = {
        "state": np.asarray(record.state, dtype=np.float32),
        "policy_action": np.asarray(record.policy_action, dtype=np.float32),
        "action": np.asarray(record.action, dtype=np.float32),
    }
    for camera, image in record.images.items():
        arrays[f"image/{camera}"] = image
    if final_observation is not None:
        arrays["final_state"] = np.asarray(final_observation["state"], dtype=np.float32)
        for camera, image in final_observation.get("images", {}).items():
            arrays[f"final_image/{camera}"] = image
    return data, arrays


def abandon_message(actor_id: str, episode_id: str) -> dict[str, Any]:
    return {"kind": "abandon", "actor_id": actor_id, "episode_id": episode_id}


@dataclass
class ReceivedStep:
    actor_id: str
    episode_id: str
    step: int
    record: StepRecord
    final_observation: dict[str, Any] | None


@dataclass(frozen=True)
class Abandon:
    actor_id: str
    episode_id: str


@dataclass(frozen=True)
class StepShape:
    """What a receiver takes: its cameras, their image size, the state and action lengths."""

    cameras: tuple[str, ...]
    image_size: tuple[int, int]
    state_dim: int
    action_dim: int

    def limits(self) -> SizeLimits:
        """The size limits of a step message of this shape, with room for a few unused cameras."""
        height, width = self.image_size
        largest = max(height * width * 3, 8 * max(self.state_dim, self.action_dim))
        arrays = 4 + 2 * (len(self.cameras) + SPARE_CAMERAS)
        return SizeLimits(max_arrays=arrays, max_array_bytes=largest, max_total_bytes=arrays * largest)


SPARE_CAMERAS = 2
"""Cameras a step may carry beyond those the receiver uses (and ignores)."""
MAX_ID = 256
"""Longest actor or episode id."""
_INT64 = 2**63


def _field(data: Mapping[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = data.get(name)
    if type(value) not in kinds:
        raise TransitionError(f"step message field {name!r} must be {' or '.join(k.__name__ for k in kinds)}")
    return value


def _id(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if type(value) is not str or not 0 < len(value) <= MAX_ID:
        raise TransitionError(f"field {name!r} must be a string of 1 to {MAX_ID} characters")
    return value


def _number(data: Mapping[str, Any], name: str) -> float:
    value = float(_field(data, name, (float, int)))
    if not math.isfinite(value):
        raise TransitionError(f"step message field {name!r} must be finite")
    return value


def _data(message: Message) -> dict[str, Any]:
    data = message.header.get("data")
    if type(data) is not dict:
        raise TransitionError("the message's 'data' must be a map")
    return data


def read_transition(message: Message, shape: StepShape | None = None) -> ReceivedStep | Abandon:
    """The step or abandon a message carries, checked (against `shape` when given); raises
    TransitionError."""
    data = _data(message)
    kind = data.get("kind", "step")
    if kind == "abandon":
        return Abandon(_id(data, "actor_id"), _id(data, "episode_id"))
    if kind != "step":
        raise TransitionError(f"unknown message kind {kind!r}")
    return read_step(message, shape)


def read_step(message: Message, shape: StepShape | None = None) -> ReceivedStep:
    """The step a message carries, checked (against `shape` when given); raises TransitionError."""
    data = _data(message)
    arrays = message.arrays
    for name in ("state", "policy_action", "action"):
        if name not in arrays:
            raise TransitionError(f"step message lacks array {name!r}")
    source = _field(data, "source", (str,))
    if source not in SOURCES:
        raise TransitionError(f"unknown source {source!r}")
    success = data.get("success")
    if success is not None and type(success) is not bool:
        raise TransitionError("'success' must be true, false or null")
    step = _field(data, "step", (int,))
    policy_version = _field(data, "policy_version", (int,))
    if not 0 <= step < 2**31 or not -_INT64 <= policy_version < _INT64:
        raise TransitionError("'step' must lie in [0, 2**31) and 'policy_version' in int64")
    images = {key.split("/", 1)[1]: array for key, array in arrays.items() if key.startswith("image/")}
    record = StepRecord(
        state=arrays["state"],
        images=images,
        policy_action=arrays["policy_action"],
        action=arrays["action"],
        intervened=_field(data, "intervened", (bool,)),
        intervention_onset=_field(data, "intervention_onset", (bool,)),
        source=source,
        terminated=_field(data, "terminated", (bool,)),
        truncated=_field(data, "truncated", (bool,)),
        success=success,
        stamp=_number(data, "stamp"),
        wall_time=_number(data, "wall_time"),
        policy_version=policy_version,
    )
    final = None
    if _field(data, "final", (bool,)):
        if "final_state" not in arrays:
            raise TransitionError("a final step message lacks 'final_state'")
        final = {
            "state": arrays["final_state"],
            "images": {k.split("/", 1)[1]: a for k, a in arrays.items() if k.startswith("final_image/")},
        }
    if shape is not None:
        _check_shape(record, final, shape)
    return ReceivedStep(
        actor_id=_id(data, "actor_id"),
        episode_id=_id(data, "episode_id"),
        step=step,
        record=record,
        final_observation=final,
    )


def _check_shape(record: StepRecord, final: dict[str, Any] | None, shape: StepShape) -> None:
    _vector(record.state, "state", shape.state_dim)
    _vector(record.action, "action", shape.action_dim)
    _vector(record.policy_action, "policy_action", shape.action_dim, finite=False)
    _images(record.images, "image", shape)
    if (record.terminated or record.truncated) and final is None:
        raise TransitionError("the last step of an episode (terminated or truncated) needs the final observation")
    if final is not None:
        _vector(final["state"], "final_state", shape.state_dim)
        _images(final["images"], "final_image", shape)


def _vector(array: np.ndarray, name: str, length: int, *, finite: bool = True) -> None:
    if array.dtype.kind != "f" or array.shape != (length,) or (finite and not np.isfinite(array).all()):
        raise TransitionError(f"{name!r} must be {length} {'finite ' if finite else ''}floats")


def _images(images: Mapping[str, np.ndarray], prefix: str, shape: StepShape) -> None:
    expected = (*shape.image_size, 3)
    for camera in shape.cameras:
        image = images.get(camera)
        if image is None or image.dtype != np.uint8 or image.shape != expected:
            raise TransitionError(f"'{prefix}/{camera}' must be a uint8 image of shape {expected}")
