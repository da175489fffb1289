"""The two messages of the teleop path, and their validated wire form.

`OperatorCommand` goes from an operator (SpaceMouse, keyboard or simulated) to the actor on
the teleop stream; `Proposal` goes from the actor to simulated operators: the action the
policy is about to execute, so that a value-based operator can judge it before it happens.
Both travel as wire messages (msgpack header + raw array frames, never pickle); decoding
validates every field and raises `MessageError` with what is wrong, so a malformed or
non-finite message can never turn into an arm motion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wire import WireError, encode
from wire.codec import SizeLimits

COMMAND_TYPE = "teleop_cmd"
PROPOSAL_TYPE = "proposal"
OPERATOR_SOURCES = ("human", "keyboard", "scripted")
"""Who publishes operator commands; the same names as `wire.records.SOURCES`."""
LATEST = -1
"""`OperatorCommand.step` of a live operator: the command answers whatever step is current."""
MARK_NONE, MARK_FAILURE, MARK_SUCCESS = -1, 0, 1
"""`OperatorCommand.mark`: the operator's verdict on the episode (a button or a key)."""
MAX_STATE = 256
"""Longest proprio state vector a proposal may carry."""
TELEOP_LIMITS = SizeLimits(max_arrays=2, max_array_bytes=MAX_STATE * 8, max_total_bytes=(MAX_STATE + 7) * 8)
"""What a teleop message holds at most: a proposal's state and policy action (a command, its twist)."""


class MessageError(ValueError):
    """A teleop or proposal message that is malformed or out of range; nothing acts on it."""


@dataclass
class OperatorCommand:
    """What the operator wants now. Actions are normalised like `RobotEnv`'s action space."""

    twist: np.ndarray = field(default_factory=lambda: np.zeros(6, np.float32))
    """TCP translation (3) and rotation-vector (3) rates in the robot base frame, each in [-1, 1]."""
    active: bool = False
    """The operator is taking over: input outside the deadzone, or a button held."""
    gripper: float | None = None
    """Absolute gripper action in [-1 closed, +1 open], or None: keep it, flipped once per toggle."""
    gripper_toggles: int = 0
    """Count of gripper-toggle presses since the publisher started (a counter survives lost messages)."""
    buttons: int = 0
    """Bitmask of the buttons held, bit i = button i of the device."""
    mark: int = MARK_NONE
    """The operator's latest verdict on the episode: MARK_SUCCESS, MARK_FAILURE or MARK_NONE."""
    mark_seq: int = 0
    """Count of verdicts given; a new verdict is one with a higher count."""
    connected: bool = True
    """The input device is present; a disconnected device publishes inactive commands."""
    source: str = "human"
    """Who decides: one of OPERATOR_SOURCES."""
    stamp: float = 0.0
    """Monotonic seconds when the input this command reflects was read (latency is measured from it)."""
    episode: str = ""
    """Episode id of the proposal this answers ('' for a live operator)."""
    step: int = LATEST
    """Step index of the proposal this answers, or LATEST for a live operator."""
    seq: int = 0
    """Publisher's sequence number, set when published."""
    sender: str = ""
    """Id of the publishing process, set when published; a new id restarts the sequence."""
    sent: float = 0.0
    """Monotonic seconds when published."""

    def action(self, gripper: float) -> np.ndarray:
        """The 7-D action of this command, with `gripper` where the command names none."""
        action = np.empty(7, np.float64)
        action[:6] = self.twist
        action[6] = gripper if self.gripper is None else self.gripper
        return action


@dataclass
class Proposal:
    """The actor's policy action for one step, before it is executed."""

    episode: str
    step: int
    state: np.ndarray
    """The proprio state vector the policy acted on."""
    policy_action: np.ndarray
    """The 7-D policy action; all NaN when no policy runs (demonstration recording)."""
    robot: dict[str, Any] = field(default_factory=dict)
    """The robot server's state map (in simulation with the privileged `sim_` fields)."""
    stamp: float = 0.0
    """Monotonic seconds when proposed."""
    seq: int = 0


# ---------------------------------------------------------------------------- helpers


def _number(header: Mapping[str, Any], key: str, kind: type, default: Any = None) -> Any:
    value = header.get(key, default)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise MessageError(f"'{key}' must be {kind.__name__}, got {type(value).__name__}")
    if kind is float and not math.isfinite(value):
        raise MessageError(f"'{key}' must be finite, got {value}")
    return value


def _vector(arrays: Mapping[str, np.ndarray], key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = arrays.get(key)
    if array is None:
        raise MessageError(f"array '{key}' is missing")
    if array.dtype.kind != "f" or array.ndim != 1 or (shape is not None and array.shape != shape):
        raise MessageError(f"'{key}' must be a float vector{'' if shape is None else ' of shape ' + str(shape)}")
    return np.array(array, dtype=np.float64 if array.dtype == np.float64 else np.float32)


def check_action(action: Sequence[float] | np.ndarray, name: str = "action") -> np.ndarray:
    """A 7-D action as float64, or MessageError when it has another shape, NaNs or values beyond [-1, 1]."""
    array = np.asarray(action, dtype=np.float64)
    if array.shape != (7,):
        raise MessageError(f"{name} must have 7 values, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise MessageError(f"{name} must be finite, got {array.tolist()}")
    if np.abs(array).max() > 1.0 + 1e-6:
        raise MessageError(f"{name} must lie in [-1, 1], got {array.tolist()}")
    return np.clip(array, -1.0, 1.0)


def _decode(frames: Sequence[Any], kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        message = TELEOP_LIMITS.decode(frames)
    except WireError as exc:
        raise MessageError(f"undecodable message: {exc.message}") from None
    if message.header.get("type") != kind:
        raise MessageError(f"expected a '{kind}' message, got type {message.header.get('type')!r}")
    return message.header, message.arrays


# ---------------------------------------------------------------------------- commands


def encode_command(command: OperatorCommand) -> list[Any]:
    twist = np.asarray(command.twist, dtype=np.float32)
    header = {
        "type": COMMAND_TYPE,
        "active": bool(command.active),
        "gripper": None if command.gripper is None else float(command.gripper),
        "gripper_toggles": int(command.gripper_toggles),
        "buttons": int(command.buttons),
        "mark": int(command.mark),
        "mark_seq": int(command.mark_seq),
        "connected": bool(command.connected),
        "source": command.source,
        "stamp": float(command.stamp),
        "episode": command.episode,
        "step": int(command.step),
        "seq": int(command.seq),
        "sender": command.sender,
        "sent": float(command.sent),
    }
    return encode(header, {"twist": twist})


def decode_command(frames: Sequence[Any]) -> OperatorCommand:
    """A validated command; MessageError for anything malformed, non-finite or out of range."""
    header, arrays = _decode(frames, COMMAND_TYPE)
    twist = _vector(arrays, "twist", (6,))
    if not np.isfinite(twist).all() or np.abs(twist).max() > 1.0 + 1e-6:
        raise MessageError(f"'twist' must be 6 finite values in [-1, 1], got {twist.tolist()}")
    gripper = header.get("gripper")
    if gripper is not None:
        gripper = _number(header, "gripper", float)
        if abs(gripper) > 1.0 + 1e-6:
            raise MessageError(f"'gripper' must lie in [-1, 1], got {gripper}")
    source = header.get("source")
    if source not in OPERATOR_SOURCES:
        raise MessageError(f"'source' must be one of {OPERATOR_SOURCES}, got {source!r}")
    mark = _number(header, "mark", int, MARK_NONE)
    if mark not in (MARK_NONE, MARK_FAILURE, MARK_SUCCESS):
        raise MessageError(f"'mark' must be -1, 0 or 1, got {mark}")
    command = OperatorCommand(
        twist=np.clip(twist, -1.0, 1.0).astype(np.float32),
        active=_number(header, "active", bool),
        gripper=None if gripper is None else float(np.clip(gripper, -1.0, 1.0)),
        gripper_toggles=_number(header, "gripper_toggles", int, 0),
        buttons=_number(header, "buttons", int, 0),
        mark=mark,
        mark_seq=_number(header, "mark_seq", int, 0),
        connected=_number(header, "connected", bool, True),
        source=source,
        stamp=_number(header, "stamp", float),
        episode=_text(header, "episode"),
        step=_number(header, "step", int, LATEST),
        seq=_number(header, "seq", int),
        sender=_text(header, "sender"),
        sent=_number(header, "sent", float, 0.0),
    )
    if command.step < LATEST or command.gripper_toggles < 0 or command.mark_seq < 0:
        raise MessageError("'step', 'gripper_toggles' and 'mark_seq' must not be negative (step -1: latest)")
    return command


def _text(header: Mapping[str, Any], key: str) -> str:
    value = header.get(key, "")
    if type(value) is not str or len(value) > 128:
        raise MessageError(f"'{key}' must be a string of at most 128 characters")
    return value


# ---------------------------------------------------------------------------- proposals


def encode_proposal(proposal: Proposal) -> list[Any]:
    header = {
        "type": PROPOSAL_TYPE,
        "episode": proposal.episode,
        "step": int(proposal.step),
        "robot": proposal.robot,
        "stamp": float(proposal.stamp),
        "seq": int(proposal.seq),
    }
    arrays = {
        "state": np.asarray(proposal.state, dtype=np.float32),
        "policy_action": np.asarray(proposal.policy_action, dtype=np.float32),
    }
    return encode(header, arrays)


def decode_proposal(frames: Sequence[Any]) -> Proposal:
    """A validated proposal; MessageError for anything malformed. The policy action may be all
    NaN (no policy), never partly NaN or infinite."""
    header, arrays = _decode(frames, PROPOSAL_TYPE)
    state = _vector(arrays, "state")
    if state.shape[0] > MAX_STATE or not np.isfinite(state).all():
        raise MessageError(f"'state' must be at most {MAX_STATE} finite values")
    policy_action = _vector(arrays, "policy_action", (7,))
    if not np.isnan(policy_action).all():
        check_action(policy_action, "'policy_action'")
    robot = header.get("robot", {})
    if type(robot) is not dict:
        raise MessageError("'robot' must be a map")
    step = _number(header, "step", int)
    if step < 0:
        raise MessageError(f"'step' must be >= 0, got {step}")
    return Proposal(
        episode=_text(header, "episode"),
        step=step,
        state=state,
        policy_action=policy_action.astype(np.float64),
        robot=robot,
        stamp=_number(header, "stamp", float),
        seq=_number(header, "seq", int, 0),
    )
