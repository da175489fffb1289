"""Wire format shared by every socket of the stack (docs/wire_protocol.md).

A message is a multipart ZeroMQ message: frame 0 is a msgpack map (the header),
frames 1..n are raw array buffers that the header describes by name, dtype and
shape. Nothing is ever unpickled or evaluated.
"""

from wire.codec import (
    ALLOWED_DTYPES,
    MAX_ARRAY_BYTES,
    PROTOCOL_VERSION,
    Message,
    WireError,
    decode,
    encode,
)
from wire.errors import ErrorCode
from wire.messages import error_reply, ok_reply, request

__all__ = [
    "ALLOWED_DTYPES",
    "MAX_ARRAY_BYTES",
    "PROTOCOL_VERSION",
    "ErrorCode",
    "Message",
    "WireError",
    "decode",
    "encode",
    "error_reply",
    "ok_reply",
    "request",
]
