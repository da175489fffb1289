"""The simulated world of one comparison run, in this process: a lockstep sim server on free
loopback ports (the full range of cube placements), the env the policy sees, and the simulated
operator answering it, all the components `rlif sim` runs as separate processes.

The state setting's observation adds the cube's pose to the proprio state (`CubePoseState`);
the image setting's is what `rlif sim` gives its policy, proprio and two cameras.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np

from actor.env import EnvConfig, RobotEnv
from actor.intervention import InterventionConfig, InterventionWrapper
from rlif.children import sim_server_config
from rlif.comparison.settings import CUBE_POSE_DIM, CubeFrame, SweepConfig
from rlif.processes import free_port
from robot_server.server import RobotServer
from teleop.publishers import CommandPublisher
from teleop.sim_operator import OperatorConfig, run_operator
from teleop.stream import ProposalSubscriber
from wire.ports import local

SERVER_START_TIMEOUT = 60.0
# fmt: off
STATE_CENTRE = np.array([
    0.48, 0.0, 0.19,  0.0, 0.0, -0.1,  0.0, 0.0, 0.0,  0.0, 0.0, 0.0,  0.04,  # proprio
    0.5, 0.0, 0.03,  0.0, 0.0,  # cube pose
], np.float32)
STATE_SPREAD = np.array([
    0.07, 0.07, 0.11,  0.09, 0.1, 0.45,  0.07, 0.06, 0.11,  0.15, 0.15, 0.2,  0.04,
    0.05, 0.065, 0.02,  1.0, 1.0,
], np.float32)
# fmt: on
"""`--state-inputs standardised`: the state setting's vector (proprio: TCP position, rotation
vector, linear and angular velocity, gripper width; then the cube's world position and yaw as
sin, cos) minus `STATE_CENTRE`, over `STATE_SPREAD`: the mean and standard deviation over the
state sweep's 180 demonstrations (every level and seed), rounded, except the cube's height (spread
0.02: it deviates 0.007 resting, 0.07 lifted) and the yaw's sine and cosine (left as they are)."""


def standardised(state: np.ndarray) -> np.ndarray:
    """The state setting's vector (or its bounds) shifted by `STATE_CENTRE` and scaled by `STATE_SPREAD`."""
    return (state - STATE_CENTRE) / STATE_SPREAD


def cube_pose(robot: dict[str, Any], frame: CubeFrame = "world") -> np.ndarray:
    """The cube's position (in the world, or minus the gripper's) and its yaw as (sin 4 yaw,
    cos 4 yaw), from the sim's privileged state."""
    w, _, _, z = np.asarray(robot["sim_cube_quat"], dtype=np.float64)
    yaw = 2.0 * np.arctan2(z, w)
    position = np.asarray(robot["sim_cube_pos"], dtype=np.float32)
    if frame == "gripper":
        position = position - np.asarray(robot["tcp_pos"], dtype=np.float32)
    return np.concatenate([position, np.array([np.sin(4 * yaw), np.cos(4 * yaw)], np.float32)])


class CubePoseState(gym.Wrapper):
    """Appends the cube's pose (`cube_pose`) to the observation's state vector, and standardises
    the whole vector if asked (`STATE_CENTRE`, `STATE_SPREAD`)."""

    def __init__(self, env: gym.Env, frame: CubeFrame = "world", standardise: bool = False) -> None:
        super().__init__(env)
        self.frame = frame
        self.standardise = standardise
        space = env.observation_space
        assert isinstance(space, gym.spaces.Dict)
        state = space["state"]
        assert isinstance(state, gym.spaces.Box)
        bound = np.full(CUBE_POSE_DIM, 2.0, np.float32)
        low, high = np.concatenate([state.low, -bound]), np.concatenate([state.high, bound])
        if standardise:
            low, high = standardised(low), standardised(high)
        self.observation_space = gym.spaces.Dict({**space.spaces, "state": gym.spaces.Box(low, high)})

    def _with_pose(self, obs: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        state = np.concatenate([obs["state"], cube_pose(info["robot"], self.frame)]).astype(np.float32)
        return {**obs, "state": standardised(state) if self.standardise else state}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._with_pose(obs, info), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with_pose(obs, info), float(reward), terminated, truncated, info


class SimWorld:
    """A lockstep sim server in a thread of this process, and envs on it."""

    def __init__(self, config: SweepConfig) -> None:
        self.config = config
        settings = sim_server_config(free_port(), free_port(), config.image_size, mode="lockstep")
        self.address = local(settings.port)
        self._server = RobotServer(settings)
        self._thread = threading.Thread(target=self._server.serve, name="sim-server", daemon=True)
        self._thread.start()
        if not self._server.ready.wait(SERVER_START_TIMEOUT):
            self.close()
            raise RuntimeError(f"the sim server did not start within {SERVER_START_TIMEOUT:.0f} s")

    def env(self) -> gym.Env:
        """The env the policy sees (no operator)."""
        robot = RobotEnv(
            EnvConfig(
                server=self.address,
                mode="lockstep",
                images=self.config.images,
                max_episode_steps=self.config.episode_steps,
            )
        )
        if self.config.images:
            return robot
        return CubePoseState(robot, self.config.cube_frame, standardise=self.config.state_inputs == "standardised")

    @contextlib.contextmanager
    def operated_env(self, operator: OperatorConfig) -> Iterator[InterventionWrapper]:
        """The env with a simulated operator answering every step (in a thread), as in `rlif sim`."""
        commands, proposals = local(free_port()), local(free_port())
        stop = threading.Event()
        subscriber, publisher = ProposalSubscriber(proposals), CommandPublisher(commands)
        thread = threading.Thread(
            target=run_operator, args=(operator.build(), subscriber, publisher, stop), name="operator", daemon=True
        )
        env = InterventionWrapper(self.env(), InterventionConfig(commands=commands, proposals=proposals, sync="answer"))
        thread.start()
        try:
            yield env
        finally:
            stop.set()
            thread.join(5.0)
            env.close()
            subscriber.close()
            publisher.close()

    def close(self) -> None:
        self._server.shutdown()
        self._thread.join(30.0)

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
