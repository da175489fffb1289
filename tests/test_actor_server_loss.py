"""The actor when its robot server goes away in the middle of a request.

A server stopped while a request is in flight never answers it. Every wait on the actor's way
(the request's tries, the clock re-sync pings between them, the reconnection) must end within
bounds that the configuration sets, so that the actor reports the server unavailable and then
reconnects or stops. A reset used to wait 30 s a try whatever `EnvConfig.timeout` said, four
tries in all: a server lost during a reset went unreported for two minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pytest
import zmq

from actor.config import ActorConfig
from actor.env import EnvConfig, RobotEnv
from actor.intervention import InterventionConfig
from actor.process import Actor
from robot_server.client import RobotClient, RobotUnavailable
from robot_server.service import RobotService
from tests.conftest import free_port
from wire import decode
from wire.status import StatusSubscriber
from wire.transport import send_frames

TIMEOUT = 0.25
"""`EnvConfig.timeout` of these tests: short, so that every bound below is a few seconds."""


class StoppableServer:
    """A robot server in a thread: a real `RobotService` behind a ROUTER socket that

    - stops dead when a request named `stop_on` arrives (after answering `stop_after` of them):
      that request is never answered and the socket closes, as when the server goes away in the
      middle of a request;
    - takes `slow[command]` seconds more to carry out a command, as a real arm's slow reset would.
    """

    def __init__(self, service: RobotService, *, slow: Mapping[str, float] | None = None) -> None:
        self.service = service
        self.slow = dict(slow or {})
        self.stop_on: str | None = None
        self.stop_after = 0
        self.stopped = threading.Event()
        self._quit = threading.Event()
        self._ready = threading.Event()
        self._port = 0
        self._thread = threading.Thread(target=self._serve, name="stoppable-server", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the test server did not start"
        self.address = f"tcp://127.0.0.1:{self._port}"

    def _serve(self) -> None:
        context = zmq.Context()
        router = context.socket(zmq.ROUTER)
        router.linger = 0
        try:
            self._port = router.bind_to_random_port("tcp://127.0.0.1")
            self._ready.set()
            while not self._quit.is_set():
                if not router.poll(20, zmq.POLLIN):
                    self.service.tick(time.monotonic())
                    continue
                frames = router.recv_multipart()
                envelope, payload = frames[:2], frames[2:]  # a REQ peer: [identity, b"", request...]
                command = decode(payload).header.get("cmd")
                if command == self.stop_on:
                    if self.stop_after <= 0:
                        self.stopped.set()
                        return
                    self.stop_after -= 1
                reply = self.service.handle(payload)
                if decode(reply).header.get("type") == "ok":  # the work was done (not refused, say as a duplicate)
                    time.sleep(self.slow.get(str(command), 0.0))
                send_frames(router, envelope + reply)
        finally:
            router.close(linger=0)
            context.term()

    def close(self) -> None:
        self._quit.set()
        self._thread.join(5)


class Bounded:
    """Runs `call` in a thread; `wait(seconds)` says whether it ended within `seconds`. A call
    still `running` keeps its sockets: nothing may close them under it."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call,), name="bounded-call", daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            call()
        except BaseException as exc:
            self.error = exc

    def wait(self, seconds: float) -> bool:
        self._thread.join(seconds)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread.is_alive()


def request_bound(env: RobotEnv) -> float:
    """The longest a request of `env` may wait for a lost server: every try and every clock
    re-sync ping between them waits the env's `timeout`, `retries + 1` tries in all."""
    return (env.client.retries + 1) * env.config.timeout


def generous(seconds: float) -> float:
    """A bound with room for a loaded machine: it tells a bounded wait from a much longer one."""
    return 3 * seconds + 2.0


@pytest.fixture
def server(service: RobotService) -> Iterator[StoppableServer]:
    running = StoppableServer(service)
    yield running
    running.close()


@pytest.mark.parametrize("command", ["reset", "step"])
def test_a_request_lost_with_the_server_gives_up_within_the_env_timeout(server: StoppableServer, command: str) -> None:
    env = RobotEnv(EnvConfig(server=server.address, images=False, timeout=TIMEOUT))
    call: Bounded | None = None
    try:
        env.reset(seed=0)
        env.step(np.zeros(7))
        server.stop_on = command
        call = Bounded(lambda: env.reset(seed=1) if command == "reset" else env.step(np.zeros(7)))
        bound = generous(request_bound(env))
        assert call.wait(bound), f"{command!r} still waiting for a stopped server after {bound:.1f} s"
    finally:
        if call is None or not call.running:
            env.close()
    assert server.stopped.is_set()
    assert isinstance(call.error, RobotUnavailable), call.error
    assert f"to '{command}'" in str(call.error)


def test_a_reset_slower_than_the_timeout_is_still_waited_for(service: RobotService) -> None:
    timeout = 0.5
    slow = 2 * timeout  # past the first try: the reset is sent again, and answered as a duplicate
    server = StoppableServer(service, slow={"reset": slow})
    env = RobotEnv(EnvConfig(server=server.address, images=False, timeout=timeout))
    try:
        episode = service.episode
        obs, info = env.reset(seed=3)
        assert service.episode == episode + 1  # applied once, though sent more than once
        assert obs["state"].shape == (13,) and info["step"] == 0
        obs, _, _, _, info = env.step(np.zeros(7))
        assert info["step"] == 1
    finally:
        env.close()
        server.close()


class StillPolicy:
    """Stands in for the learner's policy: the arm holds still, gripper open."""

    def check_observations(self, state: tuple[int, ...], images: Mapping[str, tuple[int, ...]]) -> None:
        """Fits any robot."""

    def act(self, observation: Mapping[str, Any], deterministic: bool = True) -> np.ndarray:
        return np.array([0, 0, 0, 0, 0, 0, 1], dtype=np.float32)


def test_actor_reports_a_server_lost_in_a_reset_and_stops_within_its_bounds(
    server: StoppableServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops when the second episode's reset arrives. The actor must report it
    unavailable, try to reconnect for `robot_retry` seconds and give up, all within bounds set by
    the env's timeout and `robot_retry` (`rlif actor` then exits with EXIT_ROBOT_LOST)."""
    caplog.set_level(logging.INFO, logger="actor.process")
    addresses = [f"tcp://127.0.0.1:{free_port()}" for _ in range(5)]
    config = ActorConfig(
        actor_id="loss-actor",
        env=EnvConfig(server=server.address, images=False, timeout=TIMEOUT, max_episode_steps=5),
        intervention=InterventionConfig(commands=addresses[0], proposals=None, sync="latest"),
        transitions=addresses[1],
        weights=addresses[2],
        learner_status=addresses[3],
        status=addresses[4],
        pace=False,
        robot_retry=1.0,
    )
    watcher = StatusSubscriber([config.status])
    actor = Actor(config)
    actor.policy = StillPolicy()  # type: ignore[assignment]  # no learner: no weights to wait for
    monkeypatch.setattr(actor.sender, "flush", lambda timeout: True)  # nor a learner to acknowledge
    server.stop_on, server.stop_after = "reset", 1
    states: list[str] = []
    run = Bounded(actor.run)
    # The lost reset (every try), `robot_retry`, then one reconnection attempt that may start just
    # before the deadline (every try again) and the pause after it.
    tries = RobotClient(config.env.server).retries + 1  # the env's client (it opens no socket yet)
    bound = generous(2 * tries * TIMEOUT + config.robot_retry + 1.0)
    deadline = time.monotonic() + bound
    try:
        while run.running and time.monotonic() < deadline:
            states += [data.get("state", "") for data in watcher.poll(0.05).values()]
    finally:
        watcher.close()
        if not run.running:
            actor.close()
    assert not run.running, f"the actor still waits for a server stopped during a reset after {bound:.1f} s"
    assert server.stopped.is_set() and actor.episodes == 1
    assert isinstance(run.error, RobotUnavailable) and "did not come back" in str(run.error), run.error
    assert any("unavailable" in state for state in states), states
    lost = [r.getMessage() for r in caplog.records if "reconnecting for up to" in r.getMessage()]
    assert lost and "to 'reset'" in lost[0], lost
