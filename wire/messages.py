"""Request and reply headers: one reply per request, `ok` with data or `error` with a code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from wire.codec import encode
from wire.errors import ErrorCode


def request(
    command: str,
    *,
    data: Mapping[str, Any] | None = None,
    arrays: Mapping[str, np.ndarray] | None = None,
    seq: int | None = None,
    deadline: float | None = None,
    client: str | None = None,
) -> list[Any]:
    """Frames of a request. Commands that act carry `seq` and `deadline` (server clock)."""
    header: dict[str, Any] = {"type": "req", "cmd": command}
    if data:
        header["data"] = dict(data)
    if seq is not None:
        header["seq"] = seq
    if deadline is not None:
        header["deadline"] = deadline
    if client is not None:
        header["client"] = client
    return encode(header, arrays)


def ok_reply(data: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> list[Any]:
    header: dict[str, Any] = {"type": "ok"}
    if data:
        header["data"] = dict(data)
    return encode(header, arrays)


def error_reply(code: ErrorCode, message: str) -> list[Any]:
    return encode({"type": "error", "code": str(code), "msg": message})
