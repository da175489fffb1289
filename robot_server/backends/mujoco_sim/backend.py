"""The simulated arm, cameras, clock and pick scene, all views of one `MujocoWorld`."""

from __future__ import annotations

import time
from typing import Any, Literal

import mujoco
import numpy as np

from robot_server.backends.base import LOCKSTEP, ON_DEMAND_FRAMES, SUCCESS_ORACLE, ArmState, CameraFrame, Station
from robot_server.backends.camera_model import CameraCalibration, Extrinsics, pinhole_from_fovy
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.backends.mujoco_sim.world import HOME_JOINTS, MujocoWorld

MAX_CATCH_UP = 0.1
"""Real-time mode: the most simulated time advanced in one sync; a longer stall is dropped."""


class SimClock:
    """Lockstep: time advances on request. Real-time: `sync` follows the wall clock."""

    def __init__(self, world: MujocoWorld) -> None:
        self.world = world
        self._anchor_wall = 0.0
        self._anchor_sim = 0.0
        self.dropped_time = 0.0
        """Real-time mode: simulated time skipped because the server fell behind, seconds."""

    @property
    def sim_time(self) -> float:
        return self.world.sim_time

    def advance(self, seconds: float) -> None:
        self.world.step(max(1, round(seconds / self.world.config.physics_dt)))

    def start_realtime(self, now: float) -> None:
        self._anchor_wall = now
        self._anchor_sim = self.world.sim_time

    def sync(self, now: float) -> None:
        behind = (now - self._anchor_wall) - (self.world.sim_time - self._anchor_sim)
        if behind > MAX_CATCH_UP:
            self.dropped_time += behind - MAX_CATCH_UP
            self._anchor_wall += behind - MAX_CATCH_UP
            behind = MAX_CATCH_UP
        substeps = int(behind / self.world.config.physics_dt)
        if substeps > 0:
            self.world.step(substeps)


class SimArm:
    """The simulated Panda, driven like the real arm: impedance target, gripper, joints."""

    name = "mujoco_panda"

    def __init__(self, world: MujocoWorld, clock: SimClock) -> None:
        self.world = world
        self.clock = clock
        self.home_joints = HOME_JOINTS.copy()
        self.joint_lower = world.joint_lower.copy()
        self.joint_upper = world.joint_upper.copy()
        self.max_gripper_width = world.max_gripper_width

    def read(self) -> ArmState:
        pos, quat = self.world.tcp_pose()
        linvel, angvel = self.world.tcp_velocity()
        joints, joint_vel = self.world.joint_state()
        return ArmState(
            tcp_pos=pos,
            tcp_quat=quat,
            tcp_linvel=linvel,
            tcp_angvel=angvel,
            joint_pos=joints,
            joint_vel=joint_vel,
            gripper_width=self.world.gripper_width(),
            stamp=time.monotonic(),
            fault=self.world.fault,
        )

    def set_target(self, pos: np.ndarray, quat: np.ndarray) -> None:
        self.world.set_target(pos, quat)

    def set_gripper(self, width: float, force: float) -> None:
        self.world.set_gripper(width, force)

    def tcp_pose_at(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.world.tcp_pose_at(joints)

    def hold(self) -> None:
        self.world.hold()

    def recover(self) -> None:
        self.world.fault = ""
        self.world.hold()

    def sync(self, now: float) -> None:
        self.clock.sync(now)

    def close(self) -> None:
        pass


class SimCameras:
    """Renders the model's cameras headless (EGL); one renderer for all of them.

    Real-time mode renders every camera at `camera_fps`; lockstep renders on demand,
    so a frame always shows the physics state it is returned with.
    """

    capabilities = frozenset({ON_DEMAND_FRAMES})

    def __init__(self, world: MujocoWorld, config: SimCamerasConfig) -> None:
        self.world = world
        world.allow_rendering(config.image_height, config.image_width)
        self.names = tuple(config.cameras)
        self.height = config.image_height
        self.width = config.image_width
        self.sizes = dict.fromkeys(self.names, (config.image_height, config.image_width))
        self.on_demand = True
        self._period = 1.0 / config.camera_fps
        self._next_capture = 0.0
        self._renderer: mujoco.Renderer | None = None
        self._frames: dict[str, CameraFrame] = {}
        self._rendered_version: dict[str, int] = {}
        self._counters = dict.fromkeys(self.names, 0)
        for name in self.names:
            if mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_CAMERA, name) < 0:
                raise ValueError(f"camera {name!r} is not in the model")

    def _render(self, name: str) -> None:
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.world.model, self.height, self.width)
        self._renderer.update_scene(self.world.data, camera=name)
        image = self._renderer.render()
        self._counters[name] += 1
        self._frames[name] = CameraFrame(image=image, stamp=time.monotonic(), counter=self._counters[name])
        self._rendered_version[name] = self.world.physics_version

    def latest(self, names: tuple[str, ...]) -> dict[str, CameraFrame]:
        for name in names:
            stale = self._rendered_version.get(name) != self.world.physics_version
            if name not in self._frames or (self.on_demand and stale):
                self._render(name)
        return {name: self._frames[name] for name in names}

    def faults(self) -> dict[str, str]:
        return {}

    def calibration(self) -> dict[str, CameraCalibration]:
        """The model's ground truth: a distortion-free pinhole from each camera's fovy, and its pose
        (in the base frame, which is the world's, for a camera fixed in the world; in the TCP frame
        for one on the arm)."""
        world = self.world
        found = {}
        for name in self.names:
            fovy = float(world.model.camera(name).fovy[0])
            position, rotation = world.camera_pose(name)
            frame: Literal["base", "tcp"] = "base" if world.camera_body(name) == 0 else "tcp"
            if frame == "tcp":
                tcp_pos, tcp_quat = world.tcp_pose()
                tcp_matrix = np.empty(9)
                mujoco.mju_quat2Mat(tcp_matrix, tcp_quat)
                tcp_rotation = tcp_matrix.reshape(3, 3)
                position, rotation = tcp_rotation.T @ (position - tcp_pos), tcp_rotation.T @ rotation
            quat = np.empty(4)
            mujoco.mju_mat2Quat(quat, rotation.ravel())
            quat = -quat if quat[0] < 0 else quat
            x, y, z = position.tolist()
            w, qx, qy, qz = quat.tolist()
            pose = Extrinsics(frame, (x, y, z), (w, qx, qy, qz), "sim")
            found[name] = CameraCalibration(pinhole_from_fovy(self.width, self.height, fovy), pose)
        return found

    def set_on_demand(self, on_demand: bool) -> None:
        self.on_demand = on_demand

    def sync(self, now: float) -> None:
        if self.on_demand or now < self._next_capture:
            return
        self._next_capture = max(self._next_capture + self._period, now)
        for name in self.names:
            self._render(name)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class SimPickScene:
    """The cube: its randomisation at reset and the sim-only success oracle."""

    def __init__(self, world: MujocoWorld) -> None:
        self.world = world

    def observe(self) -> dict[str, Any]:
        pos, quat = self.world.cube_pose()
        lift = float(pos[2] - self.world.cube_rest_height)
        grasped = self.world.fingers_touch_cube()
        return {
            "sim_cube_pos": pos.tolist(),
            "sim_cube_quat": quat.tolist(),
            "sim_cube_lift": lift,
            "sim_grasped": grasped,
            "success": bool(grasped and lift >= self.world.config.lift_height),
        }


class SimRig:
    """The simulated arm backend: the world, its clock, the arm and the pick scene."""

    capabilities = frozenset({LOCKSTEP, SUCCESS_ORACLE})

    def __init__(self, config: SimConfig | None = None) -> None:
        config = config or SimConfig()
        self.world = MujocoWorld(config)
        self.clock = SimClock(self.world)
        self.arm = SimArm(self.world, self.clock)
        self.scene = SimPickScene(self.world)
        self.physics_dt: float | None = config.physics_dt
        self.joint_noise = config.arm_noise

    def reset(self, joints: np.ndarray, rng: np.random.Generator | None, randomize_scene: bool) -> None:
        cube = (
            self.world.random_cube_pose(rng)
            if (rng is not None and randomize_scene)
            else (self.world.default_cube_pose())
        )
        self.world.reset(joints, cube_xy_yaw=cube)

    def state_version(self) -> int:
        return self.world.physics_version

    def close(self) -> None:
        self.arm.close()


def sim_cameras(config: SimCamerasConfig, rig: object) -> SimCameras:
    """The camera backend `sim`: renders the world of the sim rig it is given."""
    if not isinstance(rig, SimRig):
        raise ValueError("cameras of type 'sim' render the simulated scene: they need the arm of type 'sim'")
    return SimCameras(rig.world, config)


class SimBackend(Station):
    """The whole simulation as one station (the sim rig and its cameras), as tests build it."""

    def __init__(self, config: SimConfig | None = None, cameras: SimCamerasConfig | None = None) -> None:
        rig = SimRig(config)
        super().__init__(rig, SimCameras(rig.world, cameras or SimCamerasConfig()))
        self.world = rig.world
