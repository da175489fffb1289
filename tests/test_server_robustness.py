"""Garbage in never crashes the server and never moves the arm."""

from __future__ import annotations

import dataclasses
import time

import msgspec
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robot_server.backends.base import Station
from robot_server.backends.mujoco_sim.backend import SimRig
from robot_server.service import RobotService
from wire import PROTOCOL_VERSION, ErrorCode, decode, encode

VERSION = list(PROTOCOL_VERSION)


def physics_snapshot(service: RobotService) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    backend = service.backend
    assert isinstance(backend, Station) and isinstance(backend.rig, SimRig)
    world = backend.rig.world
    return (world.data.qpos.copy(), world.data.qvel.copy(), world.target_pos.copy(), world.data.ctrl.copy())


def assert_unmoved(service: RobotService, before: tuple[np.ndarray, ...]) -> None:
    for old, new in zip(before, physics_snapshot(service), strict=True):
        np.testing.assert_array_equal(old, new)


def reply_code(frames: list) -> str:
    message = decode([bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in frames])
    return message.header["type"] if message.header["type"] == "ok" else message.header["code"]


def acting(
    service: RobotService,
    cmd: str,
    data: dict | None = None,
    arrays: dict | None = None,
    seq: object = 10**9,
    **header: object,
) -> list:
    fields = {"type": "req", "cmd": cmd, "client": "fuzzer", "seq": seq, "deadline": time.monotonic() + 10, **header}
    if data is not None:
        fields["data"] = data
    return encode(fields, arrays)


BAD_VALUES = [float("nan"), float("inf"), -float("inf"), 1e300, -1e300, 1e6, 3.5]


def bad_commands(service: RobotService) -> list[tuple[str, list]]:
    """Named acting commands that are each invalid in one way."""
    ok_pos = np.array([0.5, 0.0, 0.2])
    cases: list[tuple[str, list]] = []
    for value in BAD_VALUES:
        cases += [
            (f"move pos {value}", acting(service, "move", {}, {"pos": np.array([value, 0.0, 0.2])})),
            (f"move rel {value}", acting(service, "move", {"relative": True}, {"pos": np.array([0, value, 0])})),
            (f"move quat {value}", acting(service, "move", {}, {"pos": ok_pos, "quat": np.array([value, 1, 0, 0])})),
            (
                f"rotvec {value}",
                acting(service, "move", {"relative": True}, {"pos": np.zeros(3), "rotvec": np.array([0, 0, value])}),
            ),
            (f"action {value}", acting(service, "act", None, {"action": np.array([value, 0, 0, 0, 0, 0, 0])})),
            (f"step {value}", acting(service, "step", None, {"action": np.array([0, 0, 0, 0, 0, 0, value])})),
            (f"gripper {value}", acting(service, "gripper", {"width": value})),
            (f"force {value}", acting(service, "gripper", {"width": 0.0, "force": value * 1e3})),
            (f"advance {value}", acting(service, "advance", {"seconds": value * 100})),
            (f"joints {value}", acting(service, "reset", {}, {"joints": np.full(7, value)})),
        ]
    cases += [
        ("wrong shape", acting(service, "move", {}, {"pos": np.zeros(4)})),
        ("wrong rank", acting(service, "act", None, {"action": np.zeros((7, 1))})),
        ("wrong dtype", acting(service, "act", None, {"action": np.zeros(7, dtype=bool)})),
        ("string list", acting(service, "act", {"action": ["a"] * 7})),
        ("missing pos", acting(service, "move", {})),
        (
            "quat and rotvec",
            acting(
                service,
                "move",
                {"relative": True},
                {"pos": np.zeros(3), "quat": np.array([1.0, 0, 0, 0]), "rotvec": np.zeros(3)},
            ),
        ),
        ("zero quat", acting(service, "move", {}, {"pos": ok_pos, "quat": np.zeros(4)})),
        ("bad frame", acting(service, "move", {"frame": "moon"}, {"pos": ok_pos})),
        ("bad mode", acting(service, "set_mode", {"mode": "warp"})),
        ("bad seed", acting(service, "reset", {"seed": -3})),
        ("bad flag", acting(service, "reset", {"randomize_scene": "yes"})),
        ("bad images", acting(service, "step", {"images": 3}, {"action": np.zeros(7)})),
        ("unknown camera", acting(service, "step", {"images": ["top"]}, {"action": np.zeros(7)})),
        ("stale", acting(service, "act", None, {"action": np.ones(7)}, deadline=time.monotonic() - 1)),
        ("far deadline", acting(service, "act", None, {"action": np.ones(7)}, deadline=time.monotonic() + 1e6)),
        ("nan deadline", acting(service, "act", None, {"action": np.ones(7)}, deadline=float("nan"))),
        ("no seq", acting(service, "act", None, {"action": np.ones(7)}, seq=None)),
        ("bool seq", acting(service, "act", None, {"action": np.ones(7)}, seq=True)),
        ("no client", acting(service, "act", None, {"action": np.ones(7)}, client=None)),
        ("long client", acting(service, "act", None, {"action": np.ones(7)}, client="x" * 65)),
        ("duplicate", acting(service, "act", None, {"action": np.ones(7)}, seq=0)),
        ("unknown command", acting(service, "teleport", {})),
        ("reply type", encode({"type": "ok", "cmd": "act"}, {"action": np.ones(7)})),
        ("data not map", encode({"type": "req", "cmd": "state", "data": [1, 2]})),
        ("wrong version", [msgspec.msgpack.encode({"v": [PROTOCOL_VERSION[0] + 1, 0], "type": "req", "cmd": "stop"})]),
        ("no version", [msgspec.msgpack.encode({"type": "req", "cmd": "act"})]),
        ("random bytes", [b"\x93\x01\x02"]),
        (
            "missing frame",
            [
                msgspec.msgpack.encode(
                    {"v": VERSION, "type": "req", "cmd": "act", "arrays": [["action", "float64", [7]]]}
                )
            ],
        ),
    ]
    return cases


def test_each_bad_command_is_rejected_without_motion(service: RobotService) -> None:
    # The "duplicate" case needs an accepted command with a higher seq from the same client.
    assert reply_code(service.handle(acting(service, "gripper", {"width": 0.08}, seq=5))) == "ok"
    before = physics_snapshot(service)
    for name, frames in bad_commands(service):
        code = reply_code(service.handle(frames))
        assert code != "ok", name
        assert code in set(ErrorCode), name
        assert_unmoved(service, before)
    state = service.state_data()
    assert sum(state["rejected"].values()) >= len(bad_commands(service))
    assert not state["stopped"]


def test_version_mismatch_is_reported_as_such(service: RobotService) -> None:
    frames = [msgspec.msgpack.encode({"v": [PROTOCOL_VERSION[0] + 1, 0], "type": "req", "cmd": "state"})]
    message = decode(service.handle(frames))
    assert message.header["code"] == ErrorCode.VERSION_MISMATCH
    assert "upgrade" in message.header["msg"]


fuzz_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=9),
    st.dictionaries(st.text(max_size=8), st.floats(), max_size=3),
)
fuzz_command = st.sampled_from(
    [
        "move",
        "gripper",
        "act",
        "step",
        "advance",
        "reset",
        "set_mode",
        "recover",
        "state",
        "observation",
        "info",
        "ping",
        "fly",
        "",
    ]
)


@st.composite
def fuzz_messages(draw: st.DrawFn) -> list:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # raw garbage frames
        return draw(st.lists(st.binary(max_size=48), min_size=1, max_size=3))
    if kind == 1:  # a msgpack header of random content
        head = draw(
            st.dictionaries(
                st.sampled_from(["v", "type", "cmd", "data", "arrays", "seq", "client", "deadline", "x"]),
                fuzz_value,
                max_size=7,
            )
        )
        return [msgspec.msgpack.encode(head), *draw(st.lists(st.binary(max_size=16), max_size=2))]
    # a well-formed request whose arguments are random and whose admission fails:
    # stale deadline, a wrong client, or data/arrays that cannot be valid.
    cmd = draw(fuzz_command)
    data = draw(
        st.dictionaries(
            st.sampled_from(
                [
                    "pos",
                    "quat",
                    "rotvec",
                    "action",
                    "width",
                    "force",
                    "seconds",
                    "mode",
                    "seed",
                    "images",
                    "frame",
                    "relative",
                    "joints",
                ]
            ),
            fuzz_value,
            max_size=4,
        )
    )
    header: dict = {"type": "req", "cmd": cmd, "data": data}
    if kind == 2:
        header.update(
            client="fuzzer", seq=draw(st.integers(0, 2**40)), deadline=time.monotonic() - draw(st.floats(0.001, 1e6))
        )
    else:
        header.update(
            client=draw(st.none() | st.text(min_size=65, max_size=70) | st.integers(0, 2**40)),
            seq=draw(st.integers(0, 2**40)),
            deadline=time.monotonic() + 5,
        )
    shapes = st.lists(st.integers(0, 9), max_size=3)
    dtypes = st.sampled_from(["float64", "float32", "int64", "uint8", "bool"])
    arrays = {}
    for name in draw(st.lists(st.sampled_from(["pos", "quat", "action", "joints", "rotvec"]), max_size=2, unique=True)):
        shape = tuple(draw(shapes))
        with np.errstate(invalid="ignore", over="ignore"):
            arrays[name] = np.full(
                shape, draw(st.floats(allow_nan=True, allow_infinity=True)), dtype=np.float64
            ).astype(draw(dtypes))
    return encode(header, arrays)


def test_fuzzed_messages_never_crash_or_move_the_arm(service: RobotService) -> None:
    before = physics_snapshot(service)
    seen: dict[str, int] = {}

    @settings(max_examples=4000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fuzz_messages())
    def fuzz(frames: list) -> None:
        reply = service.handle(frames)
        header = decode([bytes(memoryview(f).cast("B")) if not isinstance(f, bytes) else f for f in reply]).header
        outcome = header["type"] if header["type"] == "ok" else header["code"]
        seen[outcome] = seen.get(outcome, 0) + 1
        assert outcome != ErrorCode.INTERNAL, header
        assert_unmoved(service, before)

    fuzz()
    assert sum(seen.values()) >= 4000
    assert ErrorCode.MALFORMED in seen and ErrorCode.STALE in seen


def test_server_survives_garbage_over_the_socket(lockstep_server) -> None:
    service = lockstep_server.service
    client = lockstep_server.client()
    client.reset(seed=3, images=False)
    before_pos = np.array(client.state()["tcp_pos"])
    qpos_before = service.backend.rig.world.data.qpos.copy()
    context: zmq.Context[zmq.Socket] = zmq.Context.instance()
    rng = np.random.default_rng(0)
    for sock_type in (zmq.REQ, zmq.DEALER):
        sock = context.socket(sock_type)
        sock.linger = 0
        sock.connect(lockstep_server.address)
        for case in range(300):
            frames = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 4)))]
            if sock_type == zmq.DEALER:
                frames = [b"", *frames]
            if case % 3 == 0:
                frames = ([b""] if sock_type == zmq.DEALER else []) + [
                    msgspec.msgpack.encode(
                        {
                            "v": VERSION,
                            "type": "req",
                            "cmd": "move",
                            "data": {"pos": [float("nan")] * 3},
                            "client": "g",
                            "seq": case,
                            "deadline": time.monotonic() + 5,
                        }
                    )
                ]
            sock.send_multipart(frames)
            assert sock.poll(5000), "server stopped answering"
            reply = sock.recv_multipart()
            assert decode(reply[1:] if sock_type == zmq.DEALER else reply).header["type"] == "error"
        sock.close()
    np.testing.assert_array_equal(service.backend.rig.world.data.qpos, qpos_before)
    np.testing.assert_allclose(client.state()["tcp_pos"], before_pos)
    client.close()


def test_internal_errors_are_replied_and_the_server_goes_on(service: RobotService, monkeypatch) -> None:
    def broken(*_):
        raise RuntimeError("boom")

    monkeypatch.setitem(service.commands, "state", dataclasses.replace(service.commands["state"], handler=broken))
    header = decode(service.handle(encode({"type": "req", "cmd": "state"}))).header
    assert header["code"] == ErrorCode.INTERNAL and "boom" in header["msg"]
    assert decode(service.handle(encode({"type": "req", "cmd": "ping"}))).header["type"] == "ok"


@pytest.mark.parametrize("cmd", ["move", "act", "gripper"])
def test_stop_preempts_and_needs_recover(service: RobotService, cmd: str) -> None:
    assert reply_code(service.handle(encode({"type": "req", "cmd": "stop"}))) == "ok"
    before = physics_snapshot(service)
    frames = {
        "move": acting(service, "move", {}, {"pos": np.array([0.5, 0.0, 0.2])}, seq=1),
        "act": acting(service, "act", None, {"action": np.ones(7)}, seq=1),
        "gripper": acting(service, "gripper", {"width": 0.0}, seq=1),
    }[cmd]
    assert reply_code(service.handle(frames)) == ErrorCode.STOPPED
    assert_unmoved(service, before)
    assert reply_code(service.handle(acting(service, "recover", seq=2))) == "ok"
    assert reply_code(service.handle(acting(service, "act", None, {"action": np.ones(7)}, seq=3))) == "ok"
