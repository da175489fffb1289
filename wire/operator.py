"""The two messages of the teleop path: the operator's command and the actor's proposal.

`OperatorCommand` goes from an operator (SpaceMouse, keyboard or simulated) to the actor on the
teleop stream; `Proposal` goes from the actor to simulated operators: the action the policy is
about to execute, so that a value-based operator can judge it before it happens.

Each is one msgspec Struct, its schema: the header carries its plain fields (in field order, a
missing one takes its default) and its vectors travel as raw float32 array frames. Decoding checks
every field (types, ranges, finiteness, vector shapes) and raises `MessageError` with what is
wrong, so a malformed or non-finite message can never turn into an arm motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import numpy as np

from wire.codec import SizeLimits, WireError, encode
from wire.records import no_label
from wire.schema import Finite, checked, one_of

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
MAX_TEXT = 128
"""Longest episode or sender id."""
TELEOP_LIMITS = SizeLimits(max_arrays=2, max_array_bytes=MAX_STATE * 8, max_total_bytes=(MAX_STATE + 7) * 8)
"""What a teleop message holds at most: a proposal's state and policy action (a command, its twist
and expert label)."""
UNIT = 1.0 + 1e-6
"""Bound of a normalised value (rounding allowed; clipped to [-1, 1] once read)."""

Unit = Annotated[float, msgspec.Meta(ge=-UNIT, le=UNIT)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
OperatorSource = Annotated[str, msgspec.Meta(pattern=one_of(OPERATOR_SOURCES))]


class MessageError(ValueError):
    """A teleop or proposal message that is malformed or out of range; nothing acts on it."""


class OperatorCommand(msgspec.Struct, kw_only=True):
    """What the operator wants now. Actions are normalised like `RobotEnv`'s action space."""

    twist: np.ndarray = msgspec.field(default_factory=lambda: np.zeros(6, np.float32))
    """TCP translation (3) and rotation-vector (3) rates in the robot base frame, each in [-1, 1]
    (an array frame)."""
    expert_action: np.ndarray = msgspec.field(default_factory=no_label)
    """The expert's 7-D action for the proposal this answers, taking over or not (DAgger's label),
    each in [-1, 1]; all NaN where the operator gives none (people's devices) (an array frame)."""
    active: bool = False
    """The operator is taking over: input outside the deadzone, or a button held."""
    gripper: Unit | None = None
    """Absolute gripper action in [-1 closed, +1 open], or None: keep it, flipped once per toggle."""
    gripper_toggles: Count = 0
    """Count of gripper-toggle presses since the publisher started (a counter survives lost messages)."""
    buttons: int = 0
    """Bitmask of the buttons held, bit i = button i of the device."""
    mark: Annotated[int, msgspec.Meta(ge=MARK_NONE, le=MARK_SUCCESS)] = MARK_NONE
    """The operator's latest verdict on the episode: MARK_SUCCESS, MARK_FAILURE or MARK_NONE."""
    mark_seq: Count = 0
    """Count of verdicts given; a new verdict is one with a higher count."""
    connected: bool = True
    """The input device is present; a disconnected device publishes inactive commands."""
    source: OperatorSource = "human"
    """Who decides: one of OPERATOR_SOURCES."""
    stamp: Finite = 0.0
    """Monotonic seconds when the input this command reflects was read (latency is measured from it)."""
    episode: Text = ""
    """Episode id of the proposal this answers ('' for a live operator)."""
    step: Annotated[int, msgspec.Meta(ge=LATEST)] = LATEST
    """Step index of the proposal this answers, or LATEST for a live operator."""
    seq: int = 0
    """Publisher's sequence number, set when published."""
    sender: Text = ""
    """Id of the publishing process, set when published; a new id restarts the sequence."""
    sent: Finite = 0.0
    """Monotonic seconds when published."""

    def action(self, gripper: float) -> np.ndarray:
        """The 7-D action of this command, with `gripper` where the command names none."""
        action = np.empty(7, np.float64)
        action[:6] = self.twist
        action[6] = gripper if self.gripper is None else self.gripper
        return action


class Proposal(msgspec.Struct):
    """The actor's policy action for one step, before it is executed."""

    episode: Text
    step: Annotated[int, msgspec.Meta(ge=0)]
    state: np.ndarray
    """The proprio state vector the policy acted on (an array frame)."""
    policy_action: np.ndarray
    """The 7-D policy action; all NaN when no policy runs (demonstration recording) (an array frame)."""
    robot: dict[str, Any] = msgspec.field(default_factory=dict)
    """The robot server's state map (in simulation with the privileged `sim_` fields)."""
    stamp: Finite = 0.0
    """Monotonic seconds when proposed."""
    seq: int = 0


COMMAND_ARRAYS = ("twist", "expert_action")
PROPOSAL_ARRAYS = ("state", "policy_action")
_COMMAND_HEADER = tuple(name for name in OperatorCommand.__struct_fields__ if name not in COMMAND_ARRAYS)
_PROPOSAL_HEADER = tuple(name for name in Proposal.__struct_fields__ if name not in PROPOSAL_ARRAYS)


# ---------------------------------------------------------------------------- commands


def encode_command(command: OperatorCommand) -> list[Any]:
    header = {"type": COMMAND_TYPE, **{name: getattr(command, name) for name in _COMMAND_HEADER}}
    arrays = {name: np.asarray(getattr(command, name), dtype=np.float32) for name in COMMAND_ARRAYS}
    return encode(header, arrays)


def decode_command(frames: Sequence[Any]) -> OperatorCommand:
    """A validated command; MessageError for anything malformed, non-finite or out of range. A
    command without an expert label (an older sender) gets the all-NaN one."""
    header, arrays = _decode(frames, COMMAND_TYPE)
    twist = _vector(arrays, "twist", (6,))
    if not np.isfinite(twist).all() or np.abs(twist).max() > UNIT:
        raise MessageError(f"'twist' must be 6 finite values in [-1, 1], got {twist.tolist()}")
    header["twist"] = np.clip(twist, -1.0, 1.0).astype(np.float32)
    if "expert_action" in arrays:
        header["expert_action"] = _label(_vector(arrays, "expert_action", (7,)))
    command = checked(header, OperatorCommand, MessageError, "teleop command")
    if command.gripper is not None:
        command.gripper = float(np.clip(command.gripper, -1.0, 1.0))
    return command


def _label(label: np.ndarray) -> np.ndarray:
    if np.isnan(label).all():
        return no_label()
    if not np.isfinite(label).all() or np.abs(label).max() > UNIT:
        raise MessageError(f"'expert_action' must be 7 finite values in [-1, 1] or all NaN, got {label.tolist()}")
    return np.clip(label, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------- proposals


def encode_proposal(proposal: Proposal) -> list[Any]:
    header = {"type": PROPOSAL_TYPE, **{name: getattr(proposal, name) for name in _PROPOSAL_HEADER}}
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
    policy_action = _vector(arrays, "policy_action", (7,)).astype(np.float64)
    no_policy = np.isnan(policy_action).all()
    if not no_policy and (not np.isfinite(policy_action).all() or np.abs(policy_action).max() > UNIT):
        raise MessageError(f"'policy_action' must be 7 finite values in [-1, 1] or all NaN, got {policy_action}")
    header["state"], header["policy_action"] = state, policy_action
    return checked(header, Proposal, MessageError, "proposal")


# ---------------------------------------------------------------------------- helpers


def _decode(frames: Sequence[Any], kind: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        message = TELEOP_LIMITS.decode(frames)
    except WireError as exc:
        raise MessageError(f"undecodable message: {exc.message}") from None
    if message.header.get("type") != kind:
        raise MessageError(f"expected a '{kind}' message, got type {message.header.get('type')!r}")
    return message.header, message.arrays


def _vector(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = arrays.get(key)
    if array is None:
        raise MessageError(f"array '{key}' is missing")
    if array.dtype.kind != "f" or array.ndim != 1 or (shape is not None and array.shape != shape):
        raise MessageError(f"'{key}' must be a float vector{'' if shape is None else ' of shape ' + str(shape)}")
    return np.array(array, dtype=np.float64 if array.dtype == np.float64 else np.float32)
