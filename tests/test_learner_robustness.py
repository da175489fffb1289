"""The learner's transitions port against any peer: what fails validation is counted, acknowledged
and never logged; every message and every table has a bound; a flood makes a handful of log
lines; and whatever its write-ahead log holds, a killed learner comes up again."""

from __future__ import annotations

import dataclasses
import functools
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import zmq

from learner.learner import Learner
from learner.service import WAL_NAME, LearnerService
from learner.service_config import LearnerServiceConfig
from rlif.config_files import write_config
from rlif.processes import ChildProcess, wait_until
from tests.conftest import free_port
from tests.learner_tasks import random_policy, run_episode, step_of, task_config
from tests.pair_harness import kill
from tests.test_stream_robustness import RawPeer, counted, disconnected, lines
from wire.codec import encode
from wire.records import EpisodeRecord
from wire.reliable import MAX_STREAMS
from wire.reliable_sender import ReliableSender, new_stream_id
from wire.spool import MessageLog, read_log
from wire.status import StatusSubscriber
from wire.transitions import abandon_message, step_message

VERSION = [1, 0]


def service_config(run_dir: Path) -> LearnerServiceConfig:
    return LearnerServiceConfig(
        learner=task_config(batch_size=16, critic_ensemble=2, hidden_dims=(16, 16), min_transitions=10**6),
        run_dir=run_dir,
        transitions=f"tcp://127.0.0.1:{free_port()}",
        weights=f"tcp://127.0.0.1:{free_port()}",
        status=f"tcp://127.0.0.1:{free_port()}",
    )


def killed(service: LearnerService) -> None:
    """What SIGKILL leaves: the log as synced, no checkpoint, the ports free."""
    service.wal.close()
    for closable in (service.receiver, service.weights, service.status):
        closable.close()
    service.learner.close()


def restarted(config: LearnerServiceConfig) -> LearnerService:
    transitions, weights, status = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    return LearnerService(dataclasses.replace(config, transitions=transitions, weights=weights, status=status))


@pytest.fixture
def learner(tmp_path: Path) -> Iterator[LearnerService]:
    service = LearnerService(service_config(tmp_path / "run"))
    yield service
    killed(service)


@pytest.fixture
def peer(learner: LearnerService) -> Iterator[zmq.Socket]:
    socket: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(learner.config.transitions)
    yield socket
    socket.close(0)


def raw(header: dict[str, Any]) -> list[bytes]:
    return [b"", msgspec.msgpack.encode({"v": VERSION, **header})]


def step(seq: int, stream: str = "good", t: int = 0) -> list[Any]:
    """A valid step message of the test task, as a sender's frames."""
    data, arrays = step_message("actor", f"episode-{seq}", t, step_of(_record(), t), None)
    return [b"", *encode({"type": "msg", "stream": stream, "seq": seq, "data": data}, arrays)]


@functools.cache
def _record() -> EpisodeRecord:
    rng = np.random.default_rng(0)
    record = run_episode(random_policy(rng), rng, operator=False)
    assert len(record) > 1
    return record


def garbage(seq: int, stream: str = "junk") -> list[Any]:
    """In-order messages of a stream whose content is refused, of every kind in turn."""
    header = {"type": "msg", "stream": stream, "seq": seq}
    data, _ = step_message("actor", "e", 0, step_of(_record(), 0), None)
    kinds: list[list[Any]] = [
        raw({**header, "data": [seq]}),
        raw({**header, "data": {"kind": "step"}}),
        raw({**header, "data": {"kind": "abandon", "actor_id": seq, "episode_id": "e"}}),
        raw({**header, "data": {"kind": "sing"}}),
        [b"", *encode({**header, "data": data}, {"state": np.zeros(5)})],
        [b"", *encode({**header, "data": {**data, "step": -1}}, _arrays(step(0)))],
    ]
    return kinds[seq % len(kinds)]


def pump(service: LearnerService, until: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        service.receiver.poll(0.01)
    assert until(), "the learner never got there"


def acked(service: LearnerService, peer: zmq.Socket, upto: dict[str, int], timeout: float = 30.0) -> None:
    """Poll the learner until the peer holds acks of each stream up to the seq given."""
    waiting = dict(upto)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        service.receiver.poll(0.01)
        while peer.poll(0, zmq.POLLIN):
            ack = msgspec.msgpack.decode(peer.recv_multipart()[-1])
            if ack["upto"] >= waiting.get(ack["stream"], ack["upto"] + 1):
                del waiting[ack["stream"]]
    assert not waiting, f"no acks up to {waiting}"


def logged(service: LearnerService) -> list[list[bytes]]:
    service.wal.sync()
    return list(read_log(service.config.run_dir / WAL_NAME))


# ---------------------------------------------------------------------------- validate before logging


def test_non_map_data_is_refused_acknowledged_not_logged_and_restart_works(
    learner: LearnerService, peer: zmq.Socket
) -> None:
    for _ in range(2):
        peer.send_multipart(raw({"type": "msg", "stream": "p", "seq": 0, "data": [1]}))
    acked(learner, peer, {"p": 0})  # acknowledged: resending it would not mend it
    pump(learner, lambda: learner.receiver.duplicates == 1)
    assert learner.rejected == 1 and logged(learner) == []
    killed(learner)
    killed(restarted(learner.config))


def test_a_refused_step_does_not_stop_a_restart(learner: LearnerService, peer: zmq.Socket) -> None:
    peer.send_multipart(raw({"type": "msg", "stream": "r", "seq": 0, "data": {"kind": "step"}}))
    acked(learner, peer, {"r": 0})
    assert learner.rejected == 1 and logged(learner) == []
    killed(learner)
    again = restarted(learner.config)
    try:
        assert again.receiver.expected == {} and again.rejected == 0
    finally:
        killed(again)


def test_garbage_of_every_kind_is_acknowledged_and_only_valid_steps_are_logged_as_received(
    learner: LearnerService, peer: zmq.Socket
) -> None:
    for seq in range(60):
        peer.send_multipart(garbage(seq))
    acked(learner, peer, {"junk": 59})
    assert learner.rejected == 60 and logged(learner) == []
    sent = step(0)
    peer.send_multipart(sent)
    acked(learner, peer, {"good": 0})
    assert logged(learner) == [[bytes(memoryview(frame).cast("B")) for frame in sent[1:]]]
    assert learner.learner.env_steps == 1


def test_a_restart_after_every_kind_of_garbage_replays_only_the_valid_steps(
    learner: LearnerService, peer: zmq.Socket
) -> None:
    for seq in range(12):
        peer.send_multipart(garbage(seq))
        peer.send_multipart(step(seq))
    acked(learner, peer, {"good": 11, "junk": 11})
    killed(learner)
    again = restarted(learner.config)
    try:
        assert (again.replayed, again.rejected, again.learner.env_steps) == (12, 0, 12)
        assert again.receiver.expected == {"good": 12}
    finally:
        killed(again)


def test_replay_survives_whatever_the_log_holds(tmp_path: Path) -> None:
    config = service_config(tmp_path / "run")
    wal = MessageLog(config.run_dir / WAL_NAME)
    for seq in range(12):
        wal.append(garbage(seq, stream="good" if seq % 2 else "junk")[1:])
    wal.append([b"\xc1 not msgpack"])
    wal.append(raw({"type": "msg", "stream": 7, "seq": 0, "data": {}})[1:])
    wal.append(step(0, stream="steps")[1:])
    wal.sync()
    damaged_at = wal.path.stat().st_size
    wal.append(step(1, stream="steps")[1:])
    wal.append(step(2, stream="steps")[1:])
    wal.append(step(3, stream="steps")[1:])
    wal.close()
    data = bytearray((config.run_dir / WAL_NAME).read_bytes())
    data[damaged_at + 40] ^= 0xFF  # a damaged record in the middle
    (config.run_dir / WAL_NAME).write_bytes(bytes(data[:-5]))  # and a torn tail
    service = LearnerService(config)
    try:
        assert service.replayed == 2  # steps 0 and 2 of "steps"
        assert service.rejected == 12 + 2 + 1  # the refused, the unreadable, the damage
        # Every logged message of a stream was acknowledged once: the receiver expects what follows.
        assert service.receiver.expected == {"junk": 11, "good": 12, "steps": 3}
    finally:
        killed(service)


def test_an_abandon_with_bad_ids_is_refused_and_not_logged(learner: LearnerService, peer: zmq.Socket) -> None:
    peer.send_multipart(raw({"type": "msg", "stream": "a", "seq": 0, "data": {"kind": "abandon", "actor_id": 3}}))
    header = {"type": "msg", "stream": "a", "seq": 1, "data": abandon_message("actor", "x" * 300)}
    peer.send_multipart(raw(header))
    peer.send_multipart(raw({**header, "seq": 2, "data": abandon_message("actor", "episode")}))
    acked(learner, peer, {"a": 2})
    assert learner.rejected == 2 and len(logged(learner)) == 1


# ---------------------------------------------------------------------------- sizes and tables


def test_a_frame_beyond_any_step_cuts_the_peer_off_unread(learner: LearnerService, peer: zmq.Socket) -> None:
    monitor = learner.receiver.socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
    try:
        peer.send_multipart([b"", b"\x81" + bytes(1 << 20)])
        deadline = time.monotonic() + 10.0
        while not disconnected(monitor, 0.02):
            assert time.monotonic() < deadline, "the learner took a frame beyond any step"
            learner.receiver.poll(0.0)
        peer.send_multipart(step(0))
        acked(learner, peer, {"good": 0})  # the peer's socket connected again
        assert learner.rejected == 0 and learner.learner.env_steps == 1
    finally:
        learner.receiver.socket.disable_monitor()
        monitor.close(0)


def test_a_step_with_more_arrays_than_any_step_is_refused(learner: LearnerService, peer: zmq.Socket) -> None:
    frames = step(0)
    header = msgspec.msgpack.decode(frames[1])
    header.pop("v"), header.pop("arrays")
    extra = {f"extra/{index}": np.zeros(4, np.float32) for index in range(50)}
    peer.send_multipart([b"", *encode(header, {**_arrays(frames), **extra})])
    pump(learner, lambda: learner.receiver.rejected == 1)
    assert learner.learner.env_steps == 0


def _arrays(frames: list[Any]) -> dict[str, np.ndarray]:
    header = msgspec.msgpack.decode(frames[1])
    return {
        name: np.frombuffer(bytes(memoryview(frame).cast("B")), dtype).reshape(shape)
        for (name, dtype, shape), frame in zip(header["arrays"], frames[2:], strict=True)
    }


def test_ten_thousand_made_up_streams_keep_the_table_bounded(learner: LearnerService, peer: zmq.Socket) -> None:
    for start in range(0, 10_000, 500):
        for index in range(start, start + 500):
            peer.send_multipart(raw({"type": "msg", "stream": f"s{index}", "seq": 0, "data": {"kind": "step"}}))
        acked(learner, peer, {f"s{start + 499}": 0})
    assert len(learner.receiver.expected) <= MAX_STREAMS
    assert learner.rejected == 10_000 and logged(learner) == []
    peer.send_multipart(step(0))
    acked(learner, peer, {"good": 0})  # room for a real actor all the same
    assert learner.learner.env_steps == 1


def test_a_log_past_its_size_is_emptied_by_an_early_checkpoint(tmp_path: Path) -> None:
    config = dataclasses.replace(service_config(tmp_path / "run"), max_log_bytes=1, checkpoint_every=3600.0)
    service = LearnerService(config)
    runner = threading.Thread(target=service.run, daemon=True)
    sender = ReliableSender(config.transitions, new_stream_id("actor"))
    try:
        runner.start()
        sender.send(*step_message("actor", "e", 0, step_of(_record(), 0), None))
        assert sender.flush(30.0)
        assert wait_until(lambda: service.learner.env_steps == 1 and service.wal.bytes == 0, 30.0, interval=0.02)
    finally:
        service.request_stop()
        runner.join(30.0)
        sender.close()
        killed(service)
    restored = Learner(config.learner, config.run_dir)
    restored.restore()
    assert restored.env_steps == 1  # the checkpoint holds the step
    restored.close()


def test_3000_garbage_messages_make_a_handful_of_log_lines(tmp_path: Path, caplog) -> None:
    service = LearnerService(service_config(tmp_path / "run"))
    peer: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
    peer.linger = 0
    peer.connect(service.config.transitions)
    try:
        with caplog.at_level(logging.WARNING):
            for start in range(0, 1500, 250):
                for seq in range(start, start + 250):
                    peer.send_multipart(garbage(seq))
                    peer.send_multipart([b"", b"junk %d" % seq])
                acked(service, peer, {"junk": start + 249})
            pump(service, lambda: service.receiver.rejected == 1500)
            service.close()
    finally:
        peer.close(0)
    written = lines(caplog, "learner.service") + lines(caplog, "wire.reliable")
    assert len(written) <= 6 and counted(written) == 3000, written


def test_half_sent_messages_and_raw_bytes_are_never_seen(learner: LearnerService) -> None:
    dealer = RawPeer.connect(learner.config.transitions, b"DEALER")
    dealer.send([b"", msgspec.msgpack.encode({"v": VERSION, "type": "msg", "stream": "x", "seq": 0, "data": []})])
    pump(learner, lambda: learner.rejected == 1)  # the raw peer does reach the learner
    dealer.send(step(0, stream="half"), complete=False)
    dealer.close()
    host, port = learner.config.transitions.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port))) as stranger:
        stranger.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(range(256)) * 64)
    sender = ReliableSender(learner.config.transitions, new_stream_id("actor"))
    try:
        sender.send(*step_message("actor", "e", 0, step_of(_record(), 0), None))
        pump(learner, lambda: sender.poll() == 0)
    finally:
        sender.close()
    assert learner.rejected == 1 and learner.learner.env_steps == 1 and "half" not in learner.receiver.expected


# ---------------------------------------------------------------------------- a real process, SIGKILLed


@pytest.mark.slow
def test_the_learner_process_comes_back_after_sigkill_whatever_it_was_sent(tmp_path: Path) -> None:
    config = service_config(tmp_path / "run")
    settings = write_config(tmp_path / "learner.yaml", config)
    command = [sys.executable, "-m", "rlif", "learner", "--config", str(settings)]
    status = StatusSubscriber([config.status])
    peer: zmq.Socket = zmq.Context.instance().socket(zmq.DEALER)
    peer.linger = 0
    peer.connect(config.transitions)
    figures: dict[str, Any] = {}

    def learner_reports(predicate: Callable[[dict[str, Any]], bool]) -> bool:
        def check() -> bool:
            figures.update(status.poll(0.05).get("learner", {}))
            return bool(figures) and predicate(figures)

        return wait_until(check, 120.0, interval=0.05)

    child = ChildProcess("learner", command, tmp_path / "learner.log").start()
    try:
        assert learner_reports(lambda f: True), (tmp_path / "learner.log").read_text()
        for seq in range(30):
            peer.send_multipart(garbage(seq))
        peer.send_multipart(step(0))
        assert learner_reports(lambda f: f["env_steps"] == 1 and f["rejected"] == 30)
        peer.send_multipart([b"", b"\x81" + bytes(1 << 20)])
        sender = ReliableSender(config.transitions, new_stream_id("actor"))
        sender.send(*step_message("actor", "e", 0, step_of(_record(), 0), None))
        assert sender.flush(60.0)
        sender.close()
        assert learner_reports(lambda f: f["env_steps"] == 2)
        kill(child)
        figures.clear()
        child = ChildProcess("learner", command, tmp_path / "learner.log").start()
        assert learner_reports(lambda f: f["env_steps"] == 2), (tmp_path / "learner.log").read_text()
        assert figures["rejected"] == 0  # nothing refused was in the log
    finally:
        child.stop()
        peer.close(0)
        status.close()
    assert "Traceback" not in (tmp_path / "learner.log").read_text()


def test_a_peer_inventing_episode_ids_cannot_grow_the_open_episodes() -> None:
    from learner.episodes import MAX_OPEN_EPISODES, Frame, StepAssembler
    from learner.labels import RewardRule

    assembler = StepAssembler(RewardRule(intervention_penalty=-1.0, task_reward=False))
    frame: Frame = (np.zeros(2, np.float32), {})
    for index in range(MAX_OPEN_EPISODES * 3):
        assembler.push(
            ("actor", f"made-up-{index}"),
            0,
            frame,
            np.zeros(2, np.float32),
            intervened=False,
            intervention_onset=False,
            terminated=False,
            truncated=False,
            success=0,
            next_observation=None,
        )
    assert len(assembler.streams) == MAX_OPEN_EPISODES
    assert assembler.dropped == 2 * MAX_OPEN_EPISODES
    assert ("actor", f"made-up-{MAX_OPEN_EPISODES * 3 - 1}") in assembler.streams  # the newest stay
