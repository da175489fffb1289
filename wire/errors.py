"""Machine-readable error codes carried by `error` replies."""

from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED = "malformed"
    """The bytes are not a valid message: bad msgpack, missing fields, frames that do not match."""
    VERSION_MISMATCH = "version_mismatch"
    """The peer speaks another major protocol version."""
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGUMENT = "invalid_argument"
    """A field has the wrong type, shape, dtype or range, or is not finite."""
    STALE = "stale"
    """The command's deadline had passed when it arrived."""
    DUPLICATE = "duplicate"
    """The command's sequence number is not above the last one accepted from that client."""
    STOPPED = "stopped"
    """The arm is stopped; send `recover` before moving it."""
    WRONG_MODE = "wrong_mode"
    """The command needs the other mode (real-time or lockstep)."""
    BACKEND_ERROR = "backend_error"
    """The arm or a camera reported a failure."""
    UNAVAILABLE = "unavailable"
    """The backend cannot do this (e.g. lockstep on real hardware)."""
    LIMIT_EXCEEDED = "limit_exceeded"
    """A bounded table is full (e.g. too many clients at once); the message says which."""
    INTERNAL = "internal"
    """A bug on the server side; the message says what went wrong."""
