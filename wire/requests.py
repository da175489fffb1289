"""The robot server's requests: one schema for the header, one for each command's data.

A request is a header map {"type": "req", "cmd", "data", "client", "seq", "deadline"} and
optional raw array frames. Commands that act carry `client`, `seq` and `deadline`; queries may
carry `client` (the server's link watchdog counts the requests of the client in control).
Vectors (positions, quaternions, actions, joints) travel as arrays, or as lists in `data`;
`vector` reads either and checks shape, finiteness and a plausibility bound.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import numpy as np

from wire.codec import Message, WireError
from wire.errors import ErrorCode

MAX_CLIENT_ID = 64
MAX_SEED = 2**63 - 1
Images = bool | list[str] | None
"""Which cameras a reply carries: true (all), false or null (none), or their names."""
Vector = list[float] | None
"""A vector given in `data` instead of an array frame."""


class RequestHeader(msgspec.Struct, frozen=True):
    type: Literal["req"]
    v: tuple[int, int]
    cmd: Any = None
    """Checked against the server's commands (an unknown one is its own error)."""
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    client: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_ID)] | None = None
    seq: Annotated[int, msgspec.Meta(ge=0)] | None = None
    deadline: float | None = None


class ActingHeader(msgspec.Struct, frozen=True):
    """What every command that acts must carry besides the common header."""

    client: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CLIENT_ID)]
    seq: Annotated[int, msgspec.Meta(ge=0)]
    deadline: float


class ObservationData(msgspec.Struct, frozen=True):
    images: Images = True


class MoveData(msgspec.Struct, frozen=True):
    frame: Literal["base", "ee"] = "base"
    relative: bool = False
    pos: Vector = None
    quat: Vector = None
    rotvec: Vector = None


class GripperData(msgspec.Struct, frozen=True):
    width: float
    force: float | None = None


class ActData(msgspec.Struct, frozen=True):
    action: Vector = None


class StepData(msgspec.Struct, frozen=True):
    action: Vector = None
    images: Images = True


class AdvanceData(msgspec.Struct, frozen=True):
    seconds: float


class ResetData(msgspec.Struct, frozen=True):
    seed: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEED)] | None = None
    randomize_arm: bool = False
    randomize_scene: bool = True
    joints: Vector = None
    images: Images = True


class SetModeData(msgspec.Struct, frozen=True):
    mode: Literal["realtime", "lockstep"]


class NoData(msgspec.Struct, frozen=True):
    pass


DATA_SCHEMAS: dict[str, type[msgspec.Struct]] = {
    "info": NoData,
    "ping": NoData,
    "state": NoData,
    "observation": ObservationData,
    "move": MoveData,
    "gripper": GripperData,
    "act": ActData,
    "step": StepData,
    "advance": AdvanceData,
    "reset": ResetData,
    "stop": NoData,
    "recover": NoData,
    "set_mode": SetModeData,
}
"""Every command and the schema of its `data`; unknown fields are ignored."""

Schema = TypeVar("Schema", bound=msgspec.Struct)


def parse(value: Any, schema: type[Schema], code: ErrorCode, what: str) -> Schema:
    """`value` as `schema`, or a WireError with `code` naming the offending field."""
    try:
        return msgspec.convert(value, schema)
    except msgspec.ValidationError as exc:
        raise WireError(code, f"{what}: {exc}") from None


def read_header(message: Message) -> RequestHeader:
    return parse(message.header, RequestHeader, ErrorCode.MALFORMED, "request header")


def read_acting(header: RequestHeader) -> ActingHeader:
    acting = parse(
        {"client": header.client, "seq": header.seq, "deadline": header.deadline},
        ActingHeader,
        ErrorCode.MALFORMED,
        "acting commands need 'client' (1-64 chars), 'seq' (integer >= 0) and 'deadline' (server seconds)",
    )
    if not math.isfinite(acting.deadline):
        raise WireError(ErrorCode.MALFORMED, "'deadline' must be finite server monotonic seconds")
    return acting


def read_data(header: RequestHeader, schema: type[Schema]) -> Schema:
    return parse(header.data, schema, ErrorCode.INVALID_ARGUMENT, f"{header.cmd!r} data")


def vector(
    message: Message, given: Vector, name: str, size: int, *, bound: float, required: bool = True
) -> np.ndarray | None:
    """A float vector from the arrays (preferred) or the data: shape checked, every value finite
    and within +-bound (a plausibility check; the safety limits come later)."""
    value: Any = message.arrays.get(name)
    if value is None and given is not None:
        value = np.array(given, dtype=np.float64)
    if value is None:
        if required:
            raise WireError(ErrorCode.INVALID_ARGUMENT, f"missing {name!r} ({size} numbers)")
        return None
    if value.dtype.kind not in "fiu":
        raise WireError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be a numeric array")
    if value.shape != (size,):
        raise WireError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must have shape ({size},), got {value.shape}")
    result = value.astype(np.float64)
    magnitude = float(np.abs(result).max(initial=0.0))  # nan if any value is nan
    if not math.isfinite(magnitude):
        raise WireError(ErrorCode.INVALID_ARGUMENT, f"{name!r} holds a non-finite value")
    if magnitude > bound:
        raise WireError(ErrorCode.INVALID_ARGUMENT, f"{name!r} is outside the plausible range +-{bound}")
    return result


def number(value: float, name: str, low: float, high: float) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise WireError(ErrorCode.INVALID_ARGUMENT, f"{name!r} must be a finite number within [{low}, {high}]")
    return value
