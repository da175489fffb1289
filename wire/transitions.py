"""The messages an actor streams to the learner, one per step, and their decoding.

A step message: data {"kind": "step", "actor_id", "episode_id", "step", then the plain fields of
`wire.records.StepRecord` in order ("intervened", "intervention_onset", "source", "terminated",
"truncated", "success" (true/false/null), "stamp", "wall_time", "policy_version"), "final"} and
arrays "state", "image/<camera>", "policy_action", "action", "expert_action" (the expert's label,
all NaN for none; a message without it, from an older actor, has none); the episode's last step
(final) adds "final_state" and "final_image/<camera>", the observation after it. Its schema:
`StepHeader` and `StepRecord`. An `Abandon` message {"kind": "abandon", "actor_id", "episode_id"}
tells the learner an episode will not finish (the robot went away).

`read_transition` checks either kind, and with a `StepShape` (the receiver's cameras, image size,
state and action lengths) everything a receiver would refuse later, so that a message that passes
can be logged before it is used.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from wire.codec import Message, SizeLimits
from wire.records import STEP_SCALARS, StepRecord
from wire.schema import checked

SPARE_CAMERAS = 2
"""Cameras a step may carry beyond those the receiver uses (and ignores)."""
MAX_ID = 256
"""Longest actor or episode id."""
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
VECTORS = ("state", "policy_action", "action", "expert_action")
"""The vector arrays of a step message; all but "expert_action" are required."""


class TransitionError(ValueError):
    """A step message lacks a field or holds a value of the wrong kind."""


class StepHeader(msgspec.Struct, frozen=True):
    """A step message's own fields; its record's plain fields come with them (`StepRecord`)."""

    actor_id: Id
    episode_id: Id
    step: Annotated[int, msgspec.Meta(ge=0, lt=2**31)]
    final: bool
    """The episode's last step: the message carries the observation after it."""
    kind: Literal["step"] = "step"


class Abandon(msgspec.Struct, frozen=True, tag_field="kind", tag="abandon"):
    """An episode that will not finish (the robot went away)."""

    actor_id: Id
    episode_id: Id


def _plain(kind: Any) -> Callable[[Any], Any]:
    """What turns a value of a plain field's type into the plain value that goes on the wire."""
    if kind in (bool, int, float, str):
        return typing.cast(Callable[[Any], Any], kind)
    (inner,) = (member for member in typing.get_args(kind) if member is not type(None))  # X | None
    convert = _plain(inner)
    return lambda value: None if value is None else convert(value)


_HINTS = typing.get_type_hints(StepRecord)
_WIRE_SCALARS = tuple((name, _plain(_HINTS[name])) for name in STEP_SCALARS)
_REQUIRED = tuple(f.name for f in dataclasses.fields(StepRecord) if f.name in STEP_SCALARS and f.default is not None)
"""A step message carries every plain field; one that may be null may also be left out."""


def step_message(
    actor_id: str,
    episode_id: str,
    step_index: int,
    record: StepRecord,
    final_observation: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    data: dict[str, Any] = {"kind": "step", "actor_id": actor_id, "episode_id": episode_id, "step": step_index}
    for name, plain in _WIRE_SCALARS:
        data[name] = plain(getattr(record, name))
    data["final"] = final_observation is not None
    arrays = {name: np.asarray(getattr(record, name), dtype=np.float32) for name in VECTORS}
    for camera, image in record.images.items():
        arrays[f"image/{camera}"] = image
    if final_observation is not None:
        arrays["final_state"] = np.asarray(final_observation["state"], dtype=np.float32)
        for camera, image in final_observation.get("images", {}).items():
            arrays[f"final_image/{camera}"] = image
    return data, arrays


def abandon_message(actor_id: str, episode_id: str) -> dict[str, Any]:
    return typing.cast(dict[str, Any], msgspec.to_builtins(Abandon(actor_id, episode_id)))


@dataclass
class ReceivedStep:
    actor_id: str
    episode_id: str
    step: int
    record: StepRecord
    final_observation: dict[str, Any] | None


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
        arrays = len(VECTORS) + 1 + 2 * (len(self.cameras) + SPARE_CAMERAS)  # + final_state
        return SizeLimits(max_arrays=arrays, max_array_bytes=largest, max_total_bytes=arrays * largest)


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
        return checked(data, Abandon, TransitionError, "abandon message")
    if kind != "step":
        raise TransitionError(f"unknown message kind {kind!r}")
    return read_step(message, shape)


def read_step(message: Message, shape: StepShape | None = None) -> ReceivedStep:
    """The step a message carries, checked (against `shape` when given); raises TransitionError."""
    data = _data(message)
    arrays = message.arrays
    for name in VECTORS[:-1]:
        if name not in arrays:
            raise TransitionError(f"step message lacks array {name!r}")
    header = checked(data, StepHeader, TransitionError, "step message")
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise TransitionError(f"step message lacks {', '.join(missing)}")
    fields = {name: data[name] for name in STEP_SCALARS if name in data}
    fields.update((name, arrays[name]) for name in VECTORS if name in arrays)
    fields["images"] = _prefixed(arrays, "image/")
    record = checked(fields, StepRecord, TransitionError, "step message")
    final = None
    if header.final:
        if "final_state" not in arrays:
            raise TransitionError("a final step message lacks 'final_state'")
        final = {"state": arrays["final_state"], "images": _prefixed(arrays, "final_image/")}
    if shape is not None:
        _check_shape(record, final, shape)
    return ReceivedStep(header.actor_id, header.episode_id, header.step, record, final)


def _prefixed(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key[len(prefix) :]: array for key, array in arrays.items() if key.startswith(prefix)}


def _check_shape(record: StepRecord, final: dict[str, Any] | None, shape: StepShape) -> None:
    _vector(record.state, "state", shape.state_dim)
    _vector(record.action, "action", shape.action_dim)
    _vector(record.policy_action, "policy_action", shape.action_dim, finite=False)
    _label(record.expert_action, shape.action_dim)
    _images(record.images, "image", shape)
    if (record.terminated or record.truncated) and final is None:
        raise TransitionError("the last step of an episode (terminated or truncated) needs the final observation")
    if final is not None:
        _vector(final["state"], "final_state", shape.state_dim)
        _images(final["images"], "final_image", shape)


def _vector(array: np.ndarray, name: str, length: int, *, finite: bool = True) -> None:
    if array.dtype.kind != "f" or array.shape != (length,) or (finite and not np.isfinite(array).all()):
        raise TransitionError(f"{name!r} must be {length} {'finite ' if finite else ''}floats")


def _label(label: np.ndarray, length: int) -> None:
    _vector(label, "expert_action", length, finite=False)
    if not (np.isfinite(label).all() or np.isnan(label).all()):
        raise TransitionError(f"'expert_action' must be {length} finite floats or all NaN (no label)")


def _images(images: Mapping[str, np.ndarray], prefix: str, shape: StepShape) -> None:
    expected = (*shape.image_size, 3)
    for camera in shape.cameras:
        image = images.get(camera)
        if image is None or image.dtype != np.uint8 or image.shape != expected:
            raise TransitionError(f"'{prefix}/{camera}' must be a uint8 image of shape {expected}")
