"""Launcher parts: YAML settings over dataclass defaults; child processes that never outlive us."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from rlif.config_files import ConfigFileError, apply_overrides, load_config, split_config_flag
from rlif.processes import ChildFailed, ChildProcess, ProcessGroup, wait_until
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.no_cameras import NoCamerasConfig
from robot_server.config import ServerConfig
from tests.conftest import free_port
from wire.lifecycle import run_until_stopped, stop_on_signals
from wire.status import StatusPublisher, StatusSubscriber


def test_yaml_overrides_nested_settings(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "host: 10.0.0.2\nport: 6000\ncameras:\n  image_height: 64\n  cameras: [front]\nlimits: /etc/limits.yaml\n"
    )
    config = load_config(ServerConfig(), path)
    cameras = config.cameras
    assert isinstance(cameras, SimCamerasConfig)
    assert (config.host, config.port, cameras.image_height, cameras.cameras) == ("10.0.0.2", 6000, 64, ("front",))
    assert config.limits == Path("/etc/limits.yaml")
    assert cameras.image_width == SimCamerasConfig().image_width
    with pytest.raises(ConfigFileError, match="unknown setting 'prot'"):
        apply_overrides(ServerConfig(), {"prot": 1})
    with pytest.raises(ConfigFileError, match="arm holds settings"):
        apply_overrides(ServerConfig(), {"arm": 3})


def test_yaml_names_the_backend_by_type(tmp_path: Path) -> None:
    config = apply_overrides(
        ServerConfig(), {"cameras": {"type": "none"}, "arm": {"type": "sim", "cube_x": [0.5, 0.5]}}
    )
    assert isinstance(config.arm, SimConfig)
    assert isinstance(config.cameras, NoCamerasConfig) and config.arm.cube_x == (0.5, 0.5)
    with pytest.raises(ConfigFileError, match="unknown type 'kinect'"):
        apply_overrides(ServerConfig(), {"cameras": {"type": "kinect"}})
    assert split_config_flag(["--config", "a.yaml", "--port", "1"]) == (Path("a.yaml"), ["--port", "1"])
    assert split_config_flag(["--config=b.yaml"]) == (Path("b.yaml"), [])


SLEEPER = (
    "import signal, time\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(60)\n"
)


def test_children_are_stopped_in_reverse_order_even_when_stubborn(tmp_path: Path) -> None:
    with ProcessGroup() as group:
        polite = group.start(
            ChildProcess("polite", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "polite.log")
        )
        stubborn = group.start(
            ChildProcess("stubborn", [sys.executable, "-c", SLEEPER], tmp_path / "stubborn.log", grace=0.5)
        )
        time.sleep(0.5)
        assert polite.alive() and stubborn.alive()
        pids = [polite.pid, stubborn.pid]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert stubborn.returncode() == -signal.SIGKILL


def test_a_child_that_never_gets_ready_is_stopped_by_its_group(tmp_path: Path) -> None:
    never = ChildProcess(
        "never", [sys.executable, "-c", SLEEPER], tmp_path / "never.log", grace=0.2, ready=lambda: False
    )
    never.start_timeout = 0.5
    with pytest.raises(ChildFailed, match="never was not ready within"), ProcessGroup() as group:
        group.start(never)
    assert not never.alive() and never.returncode() == -signal.SIGKILL
    quitter = ChildProcess("quitter", [sys.executable, "-c", "raise SystemExit(3)"], ready=lambda: False)
    with pytest.raises(ChildFailed, match="quitter exited with code 3"), quitter:
        pass
    # ready once its interpreter runs the script; it takes SIGINT as Python's default does even
    # when started with SIGINT ignored (as a background job of a non-interactive shell is)
    started = tmp_path / "started"
    script = (
        "import pathlib, signal, time; signal.signal(signal.SIGINT, signal.default_int_handler); "
        f"pathlib.Path({str(started)!r}).touch(); time.sleep(60)"
    )
    ready = ChildProcess("ready", [sys.executable, "-c", script], ready=started.exists)
    with ready:
        assert ready.ready
    assert not ready.alive() and ready.returncode() == -signal.SIGINT


def test_signals_ask_the_loop_to_stop_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    stopped: list[str] = []

    def loop() -> str:
        os.kill(os.getpid(), signal.SIGTERM)
        assert wait_until(lambda: stopped, 5.0)
        return "done"

    assert run_until_stopped(loop, lambda: stopped.append("asked"), lambda: stopped.append("closed")) == "done"
    assert stopped == ["asked", "closed"] and signal.getsignal(signal.SIGTERM) is before
    before = signal.getsignal(signal.SIGINT)
    with stop_on_signals(lambda: stopped.append("again")):
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt inside
        assert wait_until(lambda: stopped[-1] == "again", 5.0)
    assert signal.getsignal(signal.SIGINT) is before


def test_status_reports_reach_a_watcher() -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    publisher = StatusPublisher(address, "learner")
    watcher = StatusSubscriber([address])
    try:
        seen: dict = {}

        def got() -> bool:
            publisher.publish({"updates": 5})
            seen.update(watcher.poll(0.05))
            return "learner" in seen

        assert wait_until(got, 5.0)
        assert seen["learner"] == {"updates": 5}
    finally:
        watcher.close()
        publisher.close()
