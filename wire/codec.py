"""Encoding and decoding of multipart messages: msgpack header + raw array frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from wire.errors import ErrorCode

PROTOCOL_VERSION: tuple[int, int] = (1, 0)
"""(major, minor). Peers with another major version are refused with a clear error."""

ALLOWED_DTYPES: frozenset[str] = frozenset(
    {"uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float16", "float32", "float64", "bool"}
)
"""Array dtypes that may cross the wire: plain little-endian numbers only, never objects."""

MAX_ARRAY_BYTES = 64 * 1024 * 1024
MAX_ARRAYS = 1024
MAX_TOTAL_BYTES = MAX_ARRAYS * MAX_ARRAY_BYTES
MAX_HEADER_BYTES = 64 * 1024
MAX_NDIM = 8


def _plain(value: Any) -> Any:
    """Numpy scalars and small arrays in a header become plain numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.name in ALLOWED_DTYPES:
        return value.tolist()
    raise WireError(ErrorCode.INVALID_ARGUMENT, f"{type(value).__name__} cannot go in a header")


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_plain)
_DECODER = msgspec.msgpack.Decoder(dict[str, Any])
"""msgspec's msgpack codec: plain values only (no ext types, nothing executable), and several
times faster than msgpack-python on headers of this size."""


class WireError(Exception):
    """A message that cannot be decoded or fails validation; `code` is an `ErrorCode`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Message:
    """A decoded message: the header map and the named arrays it describes."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    frames: Sequence[Any] | None = field(default=None, repr=False, compare=False)
    """The frames it was decoded from, as received (to store it without encoding it again)."""

    def get(self, key: str, default: Any = None) -> Any:
        return self.header.get(key, default)


_WIRE_DTYPES: dict[str, np.dtype] = {name: np.dtype(name).newbyteorder("<") for name in ALLOWED_DTYPES}
_WIRE_NAMES: dict[np.dtype, str] = {dtype: name for name, dtype in _WIRE_DTYPES.items()}
"""Little-endian dtypes by their names, and back (a dict lookup is far cheaper than dtype.name)."""


def _wire_array(value: Any) -> tuple[np.ndarray, str]:
    """The array as it travels (allowed dtype, little-endian, C-contiguous), and its dtype name."""
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    name = _WIRE_NAMES.get(array.dtype)
    if name is None:
        name = array.dtype.name
        if name not in ALLOWED_DTYPES:
            raise WireError(ErrorCode.INVALID_ARGUMENT, f"dtype {array.dtype} cannot be sent")
        array = array.astype(_WIRE_DTYPES[name])
    if not array.flags.c_contiguous:
        array = np.ascontiguousarray(array)
    return array, name


def encode(header: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None) -> list[Any]:
    """Frames for `socket.send_multipart`: the packed header, then one buffer per array.

    The protocol version is added to the header. Arrays are sent little-endian and
    C-contiguous; buffers of contiguous arrays are passed through without a copy, so
    an array must not be modified in place until the message has been sent.
    """
    full = dict(header)
    full["v"] = PROTOCOL_VERSION
    frames: list[Any] = [b""]
    if arrays:
        descriptors = []
        for name, value in arrays.items():
            array, dtype_name = _wire_array(value)
            descriptors.append((name, dtype_name, array.shape))
            frames.append(array if array.ndim else array.tobytes())
        full["arrays"] = descriptors
    frames[0] = _ENCODER.encode(full)
    return frames


def _frame_bytes(frame: Any) -> Any:
    """A bytes-like object with len() in bytes: bytes as they are, zmq.Frame's buffer, or
    a byte view of any other buffer (as in-process callers may pass arrays)."""
    if type(frame) is bytes:
        return frame
    buffer = getattr(frame, "buffer", None)  # zmq.Frame received with copy=False
    view = memoryview(buffer if buffer is not None else frame)
    if view.format == "B" and view.ndim == 1:
        return view
    if view.nbytes == 0 or not view.c_contiguous:
        return view.tobytes()
    return view.cast("B")


def _version_error(version: Any) -> WireError | None:
    if type(version) not in (list, tuple) or len(version) != 2 or not all(type(p) is int for p in version):
        return WireError(ErrorCode.MALFORMED, "header has no protocol version 'v': [major, minor]")
    if version[0] != PROTOCOL_VERSION[0]:
        return WireError(
            ErrorCode.VERSION_MISMATCH,
            f"peer speaks protocol {version[0]}.{version[1]}, this side speaks "
            f"{PROTOCOL_VERSION[0]}.{PROTOCOL_VERSION[1]}; upgrade the older side",
        )
    return None


@dataclass(frozen=True)
class SizeLimits:
    """What one socket accepts: `decode`'s limits, and from them the largest frame, which
    `apply` sets as the socket's ZMQ_MAXMSGSIZE (libzmq disconnects a peer that sends more)."""

    max_arrays: int = MAX_ARRAYS
    max_array_bytes: int = MAX_ARRAY_BYTES
    max_total_bytes: int = MAX_TOTAL_BYTES

    @property
    def max_frame_bytes(self) -> int:
        return max(MAX_HEADER_BYTES, self.max_array_bytes)

    def apply(self, socket: Any) -> None:
        """Set the frame limit on a ZeroMQ socket; before it binds or connects."""
        socket.maxmsgsize = self.max_frame_bytes

    def decode(self, frames: Sequence[Any]) -> Message:
        return decode(
            frames,
            max_arrays=self.max_arrays,
            max_array_bytes=self.max_array_bytes,
            max_total_bytes=self.max_total_bytes,
        )


HEADER_ONLY = SizeLimits(max_arrays=0, max_array_bytes=0, max_total_bytes=0)
"""Messages that are a header and nothing else (acks, status)."""


def _array(descriptor: Any, frame: Any, max_bytes: int) -> tuple[str, np.ndarray]:
    """The named array a descriptor [name, dtype, shape] and its frame stand for."""
    if type(descriptor) not in (list, tuple) or len(descriptor) != 3:
        raise WireError(ErrorCode.MALFORMED, "array descriptor must be [name, dtype, shape]")
    name, dtype_name, shape = descriptor
    if type(name) is not str or not name:
        raise WireError(ErrorCode.MALFORMED, "array name must be a non-empty string")
    dtype = _WIRE_DTYPES.get(dtype_name) if type(dtype_name) is str else None
    if dtype is None:
        raise WireError(ErrorCode.MALFORMED, f"array {name!r}: dtype {dtype_name!r} is not allowed")
    if type(shape) not in (list, tuple) or len(shape) > MAX_NDIM:
        raise WireError(ErrorCode.MALFORMED, f"array {name!r}: shape must be a list of sizes >= 0")
    count = 1
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise WireError(ErrorCode.MALFORMED, f"array {name!r}: shape must be a list of sizes >= 0")
        count *= dim
    expected = dtype.itemsize * count
    if expected > max_bytes:
        raise WireError(ErrorCode.MALFORMED, f"array {name!r} of {expected} bytes is too large")
    buffer = _frame_bytes(frame)
    if len(buffer) != expected:
        raise WireError(
            ErrorCode.MALFORMED, f"array {name!r}: {len(buffer)} bytes do not match {dtype.name}{list(shape)}"
        )
    array = np.frombuffer(buffer, dtype=dtype)
    return name, array if len(shape) == 1 else array.reshape(shape)


def decode(
    frames: Sequence[Any],
    *,
    max_arrays: int = MAX_ARRAYS,
    max_array_bytes: int = MAX_ARRAY_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Message:
    """Decode and validate a multipart message; raises `WireError`, never anything else.

    Array buffers are wrapped without copying; they are read-only views into the frames. The
    limits are the socket's (`SizeLimits`); the defaults are the most any socket allows.
    """
    if not frames:
        raise WireError(ErrorCode.MALFORMED, "empty message")
    head = _frame_bytes(frames[0])
    if len(head) > MAX_HEADER_BYTES:
        raise WireError(ErrorCode.MALFORMED, f"header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = _unpack(head)
    except Exception as exc:  # msgpack raises several unrelated exception types
        raise WireError(ErrorCode.MALFORMED, f"header is not valid msgpack: {exc}") from None
    if type(header) is not dict:
        raise WireError(ErrorCode.MALFORMED, "header must be a msgpack map")
    error = _version_error(header.get("v"))
    if error is not None:
        raise error
    descriptors = header.pop("arrays", ())
    if type(descriptors) not in (list, tuple) or len(descriptors) > max_arrays:
        raise WireError(ErrorCode.MALFORMED, f"'arrays' must be a list of at most {max_arrays}")
    if len(descriptors) != len(frames) - 1:
        raise WireError(
            ErrorCode.MALFORMED, f"header describes {len(descriptors)} arrays but {len(frames) - 1} frames follow"
        )
    arrays: dict[str, np.ndarray] = {}
    total = 0
    for index, descriptor in enumerate(descriptors, start=1):
        name, array = _array(descriptor, frames[index], max_array_bytes)
        if name in arrays:
            raise WireError(ErrorCode.MALFORMED, f"array {name!r} appears twice")
        total += array.nbytes
        if total > max_total_bytes:
            raise WireError(ErrorCode.MALFORMED, f"the arrays exceed {max_total_bytes} bytes in all")
        arrays[name] = array
    return Message(header=header, arrays=arrays, frames=frames)


def _unpack(head: Any) -> Any:
    return _DECODER.decode(head)
