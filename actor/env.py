"""`RobotEnv`: a gymnasium environment whose robot is a robot server over ZeroMQ.

Observation: {"state": float32 (13,), "images": {camera: uint8 HxWx3}} (no "images" in
the state-only configuration). The state vector is TCP position (3), TCP orientation
as a rotation vector relative to the gripper-down reference of the limits file (3;
continuous over the workspace, unlike a quaternion whose sign can flip), TCP linear
velocity (3), TCP angular velocity (3) and gripper width (1).

Action: Box(-1, 1, (7,)): TCP translation (3) and rotation-vector (3) deltas in the
base frame, from the measured pose, scaled by the server's `action_scale`; and the
gripper opening, -1 closed to +1 fully open.

Reward: the sparse task reward, 1.0 on the step the sim's success oracle turns true,
else 0.0 (0.0 always on hardware). RLIF does not use it: the learner labels rewards
from interventions.

Info: `success` (sim oracle; None on hardware), `step`, `clamped` (safety clamps the
server applied during this step), `robot` (the server's state map, including sim-only
privileged fields prefixed `sim_`, without its wall-clock stamps and cross-episode
counters) and `timing`.

Lockstep mode: each `step` advances the simulation by exactly one control period;
`timing` holds the simulated time, so a seeded episode repeats exactly.
Real-time mode: `step` sends the action at once, then waits for the end of the control
period on the monotonic clock and observes; `timing` adds `latency`, `late` (seconds past the
period's end at which the step got to observe: its deadline miss), `observe_latency` (the
observation's round trip) and `overruns` (steps more than 1 ms late); the
schedule is kept, never stretched. The full last reply is `env.last_reply`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import EnvSpec

from robot_server.client import Reply, RobotClient
from wire.security import CurveKeys

OVERRUN = 0.001
"""Real-time mode: a step that reaches its observation later than this past its deadline is an overrun."""
STATE_FIELDS: dict[str, tuple[int, float, float]] = {
    "tcp_pos": (3, -2.0, 2.0),
    "tcp_rotvec": (3, -np.pi, np.pi),
    "tcp_linvel": (3, -5.0, 5.0),
    "tcp_angvel": (3, -20.0, 20.0),
    "gripper_width": (1, 0.0, 0.2),
}
"""Fields the state vector can be made of: their sizes and physical bounds (metres, rad, m/s,
rad/s, metres). Which ones, in what order, is the server's to say (`info["state_vector"]`)."""
SERVER_BOOKKEEPING = frozenset(
    {
        "stamp",
        "image_stamps",
        "image_ages",
        "image_counters",
        "image_frame_numbers",
        "image_device_stamps",
        "rejected",
        "clamps",
        "watchdog_holds",
        "episode",
    }
)
"""Fields of the server's state that count across episodes or read the wall clock; left out
of `info["robot"]` so that a seeded lockstep episode gives the same info every time."""


@dataclass(frozen=True)
class EnvConfig:
    """Settings of `RobotEnv`."""

    server: str = "tcp://127.0.0.1:5555"
    """Request address of the robot server."""
    mode: Literal["lockstep", "realtime"] = "lockstep"
    """Lockstep (simulation only, as fast as the CPU allows) or real-time."""
    images: bool = True
    """Observe camera images; False gives the state-only configuration."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras to observe, by name."""
    max_episode_steps: int = 100
    """Episode length limit in steps (truncation)."""
    control_period: float = 0.1
    """Real-time mode: seconds between steps (lockstep uses the server's control period)."""
    randomize_arm: bool = False
    """Add the server's joint noise to the home pose at reset."""
    randomize_scene: bool = True
    """Randomise the scene (cube pose) at reset; simulation only."""
    terminate_on_success: bool = True
    """End the episode (terminated) when the sim's success oracle is true."""
    server_curve: CurveKeys | None = None
    """CurveZMQ keys for a robot server that listens beyond loopback: its public key file and this
    client's secret key file (whose public key is in the server's clients folder)."""
    timeout: float = 5.0
    """Seconds to wait for each reply of the server (a reset's too) before reconnecting; after its
    retries, (retries + 1) x timeout in all, a request gives up, so a lost server is noticed within
    that. A reset that takes longer than `timeout` (up to about retries x timeout) still succeeds:
    the resent reset keeps its sequence number, and the server, once free, answers it as a duplicate."""


SPIN = 0.002
"""Real-time mode: the last seconds before a deadline are waited out awake, not asleep, since a
sleeping process can wake milliseconds late on a busy machine."""


def wait_until(deadline: float) -> None:
    """Return at the monotonic time `deadline` (at once if it has passed)."""
    remaining = deadline - time.monotonic()
    if remaining > SPIN:
        time.sleep(remaining - SPIN)
    while time.monotonic() < deadline:
        time.sleep(0)  # yield the GIL and the CPU without giving up the wake-up


def state_layout(fields: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The bounds (low, high) of the state vector the server lays out as `fields`."""
    unknown = sorted(set(fields) - set(STATE_FIELDS))
    if unknown:
        raise ValueError(f"the server's state vector names fields this env does not know: {unknown}")
    low = np.concatenate([np.full(STATE_FIELDS[f][0], STATE_FIELDS[f][1]) for f in fields]).astype(np.float32)
    high = np.concatenate([np.full(STATE_FIELDS[f][0], STATE_FIELDS[f][2]) for f in fields]).astype(np.float32)
    return low, high


def state_vector(data: dict[str, Any], fields: list[str]) -> np.ndarray:
    return np.concatenate([np.asarray(data[field], dtype=np.float32).reshape(-1) for field in fields])


class RobotEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self, config: EnvConfig = EnvConfig(), render_mode: str | None = None, client: RobotClient | None = None
    ) -> None:
        self.config = config
        self.render_mode = render_mode
        self.client = client or RobotClient(config.server, timeout=config.timeout, curve=config.server_curve)
        info = self.client.info()
        if config.mode not in info["modes"]:
            raise ValueError(f"the {info['backend']} backend has no {config.mode} mode")
        unknown = set(config.cameras) - set(info["cameras"])
        if config.images and unknown:
            raise ValueError(f"unknown cameras {sorted(unknown)}; the server has {sorted(info['cameras'])}")
        if info["mode"] != config.mode:
            self.client.set_mode(config.mode)
        self.server_info = info
        if config.mode == "realtime":
            # A real-time robot never repeats itself (the arm, the cameras and the clock move on):
            # the spec says so, and gymnasium's checker then skips its determinism checks.
            self.spec = EnvSpec(
                "rlif/RobotEnv-realtime-v0", entry_point=functools.partial(RobotEnv, config), nondeterministic=True
            )
        self.period = info["control_period"] if config.mode == "lockstep" else config.control_period
        self._camera_arg: bool | list[str] = list(config.cameras) if config.images else False
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(7,), dtype=np.float32)
        self.state_fields = list(info["state_vector"])
        low, high = state_layout(self.state_fields)
        spaces: dict[str, gym.Space] = {"state": gym.spaces.Box(low, high, dtype=np.float32)}
        if config.images:
            spaces["images"] = gym.spaces.Dict(
                {
                    name: gym.spaces.Box(0, 255, shape=(*info["cameras"][name], 3), dtype=np.uint8)
                    for name in config.cameras
                }
            )
        self.observation_space = gym.spaces.Dict(spaces)
        self._step_index = 0
        self._succeeded = False
        self._next_tick = 0.0
        self._clamp_total = 0
        self.overruns = 0
        self.last_reply: Reply | None = None

    # ------------------------------------------------------------------ helpers

    def _observation(self, reply: Reply) -> dict[str, Any]:
        obs: dict[str, Any] = {"state": state_vector(reply.data, self.state_fields)}
        if self.config.images:
            obs["images"] = {name: np.array(reply.arrays[name]) for name in self.config.cameras}
        return obs

    def _info(self, reply: Reply, timing: dict[str, float]) -> dict[str, Any]:
        data = reply.data
        clamp_total = sum(data.get("clamps", {}).values())
        clamped = clamp_total - self._clamp_total
        self._clamp_total = clamp_total
        return {
            "success": data.get("success"),
            "step": self._step_index,
            "clamped": clamped,
            "robot": {key: value for key, value in data.items() if key not in SERVER_BOOKKEEPING},
            "timing": timing,
        }

    # ------------------------------------------------------------------ gym API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        server_seed = int(self.np_random.integers(0, 2**31 - 1))
        reply = self.client.reset(
            seed=server_seed,
            randomize_arm=self.config.randomize_arm,
            randomize_scene=self.config.randomize_scene,
            images=self._camera_arg,
        )
        self._step_index = 0
        self._succeeded = False
        self._next_tick = time.monotonic() + self.period
        self.last_reply = reply
        self._clamp_total = sum(reply.data.get("clamps", {}).values())
        return self._observation(reply), self._info(reply, self._timing(reply, {}))

    def _timing(self, reply: Reply, wall: dict[str, float]) -> dict[str, float]:
        """Lockstep: simulated time only (repeatable). Real-time: wall-clock figures too."""
        timing = {"sim_time": reply.data["sim_time"]} if "sim_time" in reply.data else {}
        if self.config.mode == "realtime":
            timing.update(wall)
            timing["overruns"] = float(self.overruns)
        return timing

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (7,) or not np.isfinite(action).all():
            raise ValueError(f"action must be 7 finite numbers, got {action!r}")
        started = time.monotonic()
        wall: dict[str, float] = {}
        if self.config.mode == "lockstep":
            reply = self.client.step(action, images=self._camera_arg)
        else:
            self.client.act(action)
            wait_until(self._next_tick)
            late = max(0.0, time.monotonic() - self._next_tick)
            reply = self.client.observation(images=self._camera_arg)
            wall["late"] = late
            wall["observe_latency"] = time.monotonic() - self._next_tick - late
            if late > OVERRUN:
                self.overruns += 1
            self._next_tick += self.period
            if self._next_tick < time.monotonic():
                missed = int((time.monotonic() - self._next_tick) // self.period) + 1
                self._next_tick += missed * self.period
        wall["latency"] = time.monotonic() - started
        self._step_index += 1
        self.last_reply = reply
        success = bool(reply.data.get("success"))
        reward = 1.0 if success and not self._succeeded else 0.0
        self._succeeded = self._succeeded or success
        terminated = success and self.config.terminate_on_success
        truncated = not terminated and self._step_index >= self.config.max_episode_steps
        info = self._info(reply, self._timing(reply, wall))
        return self._observation(reply), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array" or self.last_reply is None:
            return None
        images = self.last_reply.arrays
        if not images:
            images = self.client.observation(images=True).arrays
        return np.concatenate([np.asarray(images[name]) for name in sorted(images)], axis=1)

    def observation_shapes(self) -> tuple[tuple[int, ...], dict[str, tuple[int, ...]]]:
        """The shapes of this env's observations: the state's and each camera's image's."""
        cameras = self.config.cameras if self.config.images else ()
        state, _ = state_layout(self.state_fields)
        return state.shape, {name: (*self.server_info["cameras"][name], 3) for name in cameras}

    def close(self) -> None:
        self.client.close()
        super().close()
