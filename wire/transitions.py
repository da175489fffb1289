"""The messages an actor streams to the learner, one per step, and their decoding.

A step message: data {"kind": "step", "actor_id", "episode_id", "step", "intervened",
"intervention_onset", "source", "terminated", "truncated", "success" (true/false/null),
"stamp", "wall_time", "policy_version", "final"} and arrays "state", "image/<camera>",
"policy_action", "action"; the episode's last step (final) adds "final_state" and
"final_image/<camera>", the observation after it. An "abandon" message {"kind": "abandon",
"actor_id", "episode_id"} tells the learner an episode will not finish (the robot went away).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wire.codec import Message
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


def _field(data: Mapping[str, Any], name: str, kinds: tuple[type, ...]) -> Any:
    value = data.get(name)
    if type(value) not in kinds:
        raise TransitionError(f"step message field {name!r} must be {' or '.join(k.__name__ for k in kinds)}")
    return value


def read_step(message: Message) -> ReceivedStep:
    """The step a message carries, checked; raises TransitionError."""
    data = message.header.get("data") or {}
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
        stamp=float(_field(data, "stamp", (float, int))),
        wall_time=float(_field(data, "wall_time", (float, int))),
        policy_version=_field(data, "policy_version", (int,)),
    )
    final = None
    if _field(data, "final", (bool,)):
        if "final_state" not in arrays:
            raise TransitionError("a final step message lacks 'final_state'")
        final = {
            "state": arrays["final_state"],
            "images": {k.split("/", 1)[1]: a for k, a in arrays.items() if k.startswith("final_image/")},
        }
    return ReceivedStep(
        actor_id=_field(data, "actor_id", (str,)),
        episode_id=_field(data, "episode_id", (str,)),
        step=_field(data, "step", (int,)),
        record=record,
        final_observation=final,
    )
