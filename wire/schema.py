"""Building blocks of the message schemas: constrained field types, and checking a value against a
schema (msgspec, which validates Structs and dataclasses alike) with an error of the caller's kind."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

import msgspec

FLOAT_MAX = sys.float_info.max
Finite = Annotated[float, msgspec.Meta(ge=-FLOAT_MAX, le=FLOAT_MAX)]
"""A finite number: NaN and the infinities fail one of the bounds. An integer is taken as a float."""
Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

MAX_REASON = 200
"""Longest explanation of a refusal: a bad value is quoted, and a peer can send long ones."""

Schema = TypeVar("Schema")


def one_of(names: Iterable[str]) -> str:
    """The pattern of a string that is exactly one of `names` (a `msgspec.Meta` pattern)."""
    return r"\A(?:" + "|".join(re.escape(name) for name in names) + r")\Z"


def checked(value: Any, schema: type[Schema], error: type[Exception], what: str) -> Schema:
    """`value` (plain values; arrays pass as they are) as `schema`, or `error` naming the field
    (what a peer sent is quoted at most `MAX_REASON` characters long)."""
    try:
        return msgspec.convert(value, schema)
    except msgspec.ValidationError as exc:
        reason = str(exc)
        if len(reason) > MAX_REASON:
            half = MAX_REASON // 2
            reason = f"{reason[:half]}...{reason[-half:]}"
        raise error(f"{what}: {reason}") from None
