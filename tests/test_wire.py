"""Wire format: exact round trips, and clear errors for anything malformed."""

from __future__ import annotations

import contextlib

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wire import ALLOWED_DTYPES, PROTOCOL_VERSION, ErrorCode, WireError, decode, encode, error_reply, request
from wire.codec import HEADER_ONLY, MAX_HEADER_BYTES, SizeLimits


def roundtrip(header: dict, arrays: dict[str, np.ndarray]):
    frames = encode(header, arrays)
    return decode([bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames])


@pytest.mark.parametrize("dtype", sorted(ALLOWED_DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 4), (128, 128, 3), (2, 3, 4, 5)])
def test_roundtrip_every_dtype_and_shape(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array = (rng.random(shape) * 100).astype(dtype)
    message = roundtrip({"type": "ok", "data": {"x": 1.5}}, {"a": array})
    assert message.header["data"] == {"x": 1.5}
    assert message.arrays["a"].dtype == np.dtype(dtype)
    assert message.arrays["a"].shape == shape
    np.testing.assert_array_equal(message.arrays["a"], array)


def test_roundtrip_messages_in_use() -> None:
    images = {
        name: np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8) for name in ("front", "wrist")
    }
    message = roundtrip({"type": "ok", "data": {"tcp_pos": [0.1, 0.2, 0.3], "stopped": False}}, images)
    for name, image in images.items():
        np.testing.assert_array_equal(message.arrays[name], image)
    action = np.linspace(-1, 1, 7)
    req = decode(request("step", data={"images": True}, arrays={"action": action}, seq=5, deadline=1.0, client="c1"))
    assert (req.header["cmd"], req.header["seq"], req.header["client"]) == ("step", 5, "c1")
    np.testing.assert_array_equal(req.arrays["action"], action)


def test_big_endian_and_strided_arrays_are_sent_as_little_endian_contiguous() -> None:
    array = np.arange(12, dtype=">f8").reshape(3, 4)[:, ::2]
    message = roundtrip({}, {"a": array})
    np.testing.assert_array_equal(message.arrays["a"], array)
    assert message.arrays["a"].dtype == np.dtype("<f8")


def test_objects_cannot_be_sent() -> None:
    with pytest.raises(WireError) as info:
        encode({}, {"a": np.array([object()])})
    assert info.value.code == ErrorCode.INVALID_ARGUMENT


def header(**fields: object) -> bytes:
    return msgspec.msgpack.encode({"v": list(PROTOCOL_VERSION), **fields})


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        ([], ErrorCode.MALFORMED),
        ([b"\xc1"], ErrorCode.MALFORMED),
        ([msgspec.msgpack.encode([1, 2])], ErrorCode.MALFORMED),
        ([msgspec.msgpack.encode({"type": "req"})], ErrorCode.MALFORMED),
        ([msgspec.msgpack.encode({"v": [2, 0], "type": "req"})], ErrorCode.VERSION_MISMATCH),
        ([msgspec.msgpack.encode({"v": "1.0"})], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "float64", [3]]])], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "float64", [3]]]), b"\x00" * 23], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "object", [1]]]), b"\x00" * 8], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "float64", [-1]]]), b""], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "float64", [True]]]), b"\x00" * 8], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "uint8", [1 << 40]]]), b""], ErrorCode.MALFORMED),
        ([header(arrays=[["a", "uint8", [1]], ["a", "uint8", [1]]]), b"x", b"y"], ErrorCode.MALFORMED),
        ([header(arrays="nope")], ErrorCode.MALFORMED),
        ([header(), b"extra"], ErrorCode.MALFORMED),
        ([msgspec.msgpack.encode({1: 2, "v": [1, 0]})], ErrorCode.MALFORMED),
        ([b"\x00" * 70000], ErrorCode.MALFORMED),
    ],
)
def test_malformed_messages_raise_wire_errors(frames: list[bytes], code: ErrorCode) -> None:
    with pytest.raises(WireError) as info:
        decode(frames)
    assert info.value.code == code
    assert info.value.message


def test_version_mismatch_names_both_versions() -> None:
    with pytest.raises(WireError, match=r"peer speaks protocol 7\.3"):
        decode([msgspec.msgpack.encode({"v": [7, 3]})])


def test_newer_minor_version_is_accepted() -> None:
    assert decode([msgspec.msgpack.encode({"v": [PROTOCOL_VERSION[0], 99], "type": "ok"})]).header["type"] == "ok"


def test_error_reply_carries_code_and_message() -> None:
    message = decode(error_reply(ErrorCode.STALE, "too late"))
    assert message.header == {"type": "error", "code": "stale", "msg": "too late", "v": list(PROTOCOL_VERSION)}


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=4))
def test_random_bytes_never_escape_as_other_exceptions(frames: list[bytes]) -> None:
    with contextlib.suppress(WireError):
        decode(frames)


json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=3000, deadline=None)
@given(json_like, st.lists(st.binary(max_size=32), max_size=3))
def test_random_headers_never_escape_as_other_exceptions(head: object, tail: list[bytes]) -> None:
    with contextlib.suppress(WireError):
        decode([msgspec.msgpack.encode(head), *tail])


def test_numpy_scalars_in_headers_become_plain_values() -> None:
    message = roundtrip({"data": {"a": np.float64(1.5), "b": np.int64(3), "c": np.bool_(True), "d": np.arange(3)}}, {})
    assert message.header["data"] == {"a": 1.5, "b": 3, "c": True, "d": [0, 1, 2]}
    with pytest.raises(WireError):
        encode({"data": {"x": object()}})


def test_each_socket_sets_its_own_limits() -> None:
    frames = [
        bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f
        for f in encode({"type": "ok"}, {"a": np.zeros(100, np.uint8), "b": np.zeros(100, np.uint8)})
    ]
    assert decode(frames).frames is frames  # what was received, to be stored as it is
    for limits, message in [
        ({"max_arrays": 1}, "at most 1"),
        ({"max_array_bytes": 99}, "too large"),
        ({"max_total_bytes": 199}, "in all"),
    ]:
        with pytest.raises(WireError, match=message):
            decode(frames, **limits)
    assert len(decode(frames, max_arrays=2, max_array_bytes=100, max_total_bytes=200).arrays) == 2
    sized = SizeLimits(max_arrays=2, max_array_bytes=1 << 20, max_total_bytes=1 << 21)
    assert sized.max_frame_bytes == 1 << 20 and HEADER_ONLY.max_frame_bytes == MAX_HEADER_BYTES
    with pytest.raises(WireError, match="at most 0"):
        HEADER_ONLY.decode(frames)
