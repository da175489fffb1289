"""The simulated world: model, physics stepping, the impedance target and resets.

The Cartesian impedance (a spring-damper between the TCP site and the mocap frame
`ee_target`) is computed by MuJoCo at every physics step; this module moves that
frame. Like the real arm's controller, the error the spring sees is clipped
(`clip_translation`, `clip_rotation`): the frame is placed at most that far from the
measured TCP, towards the commanded target, every `clip_period` of simulated time.
"""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np

from robot_server.backends.mujoco_sim.config import SimConfig

ASSET = Path(__file__).with_name("assets") / "panda_pick.xml"

HOME_JOINTS = np.array([0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398])
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
IMPEDANCE_ACTUATORS = ("imp_x", "imp_y", "imp_z", "imp_rx", "imp_ry", "imp_rz")


def _as_slice(indices: list[int]) -> slice | np.ndarray:
    """A slice where the indices are consecutive (cheaper to index with), else an array."""
    if indices == list(range(indices[0], indices[0] + len(indices))):
        return slice(indices[0], indices[0] + len(indices))
    return np.array(indices)


def build_model(config: SimConfig) -> mujoco.MjModel:
    """The scene's model; with a calibration board, built through `MjSpec` to add it."""
    if config.board.mount == "none":
        return mujoco.MjModel.from_xml_path(str(ASSET))
    from robot_server.backends.mujoco_sim.board import add_board

    spec = mujoco.MjSpec.from_file(str(ASSET))
    add_board(spec, config.board)
    return spec.compile()


class MujocoWorld:
    """Owns the MuJoCo model and data; everything that touches them runs in one thread."""

    def __init__(self, config: SimConfig | None = None) -> None:
        config = config or SimConfig()
        self.config = config
        model = build_model(config)
        model.opt.timestep = config.physics_dt
        self.model = model
        self.data = mujoco.MjData(model)
        self._kinematics = mujoco.MjData(model)
        self._tcp = model.site("tcp").id
        self._mocap = model.body("ee_target").mocapid[0]
        self._arm_qpos = _as_slice([model.joint(n).qposadr[0] for n in ARM_JOINTS])
        self._arm_dof = _as_slice([model.joint(n).dofadr[0] for n in ARM_JOINTS])
        self._finger_qpos = _as_slice([model.joint(n).qposadr[0] for n in ("finger_left", "finger_right")])
        self._gripper_acts = _as_slice([model.actuator(n).id for n in ("gripper_left", "gripper_right")])
        self._cube_qpos = model.joint("cube").qposadr[0]
        self._cube_geom = model.geom("cube").id
        self._pad_geoms = {model.geom("left_pad").id, model.geom("right_pad").id}
        self.cube_half_size = float(model.geom_size[self._cube_geom][2])
        self.joint_lower = model.jnt_range[[model.joint(n).id for n in ARM_JOINTS], 0].copy()
        self.joint_upper = model.jnt_range[[model.joint(n).id for n in ARM_JOINTS], 1].copy()
        self.max_gripper_width = 2 * float(model.actuator_ctrlrange[model.actuator("gripper_left").id][1])
        self._set_impedance_gains()
        self._substeps_per_clip = max(1, round(config.clip_period / config.physics_dt))
        self.set_target(np.zeros(3), np.array([1.0, 0.0, 0.0, 0.0]))
        self.physics_version = 0
        """Increments whenever the physics state changes; cameras render when it moved on."""
        self.fault = ""
        self._scratch_rot = np.zeros(3)
        self._gripper_force = float("nan")
        self._scratch_vel = np.zeros(6)
        # Views into mjData rows, valid for the data's lifetime.
        self._tcp_xpos = self.data.site_xpos[self._tcp]
        self._tcp_xmat = self.data.site_xmat[self._tcp]
        self._mocap_pos = self.data.mocap_pos[self._mocap]
        self._mocap_quat = self.data.mocap_quat[self._mocap]
        self.reset(HOME_JOINTS, cube_xy_yaw=self.default_cube_pose())

    def allow_rendering(self, height: int, width: int) -> None:
        """Make the offscreen buffer large enough for images of this size."""
        visual = self.model.vis.global_
        visual.offwidth = max(visual.offwidth, width)
        visual.offheight = max(visual.offheight, height)

    def _set_impedance_gains(self) -> None:
        c = self.config
        for index, name in enumerate(IMPEDANCE_ACTUATORS):
            actuator = self.model.actuator(name).id
            kp, kv = (
                (c.translational_stiffness, c.translational_damping)
                if index < 3
                else (c.rotational_stiffness, c.rotational_damping)
            )
            # Position actuator: force = kp * (ctrl - length) - kv * velocity.
            self.model.actuator_gainprm[actuator, 0] = kp
            self.model.actuator_biasprm[actuator, 1:3] = (-kp, -kv)

    # ----------------------------------------------------------------- readings

    @property
    def sim_time(self) -> float:
        return float(self.data.time)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        pos = self.data.site_xpos[self._tcp].copy()
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._tcp])
        if quat[0] < 0:
            quat = -quat
        return pos, quat

    def tcp_pose_at(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward kinematics: the TCP pose the arm would have at `joints`; the physics is untouched."""
        scratch = self._kinematics
        scratch.qpos[:] = self.data.qpos
        scratch.qpos[self._arm_qpos] = np.clip(joints, self.joint_lower, self.joint_upper)
        mujoco.mj_kinematics(self.model, scratch)
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, scratch.site_xmat[self._tcp])
        return scratch.site_xpos[self._tcp].copy(), (-quat if quat[0] < 0 else quat)

    def camera_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Where camera `name` is now, world frame: its position and rotation matrix, with OpenCV's
        axes (x right, y down, z along the view; MuJoCo's cameras look along their -z, y up)."""
        camera = self.model.camera(name).id
        rotation = self.data.cam_xmat[camera].reshape(3, 3) * np.array([1.0, -1.0, -1.0])
        return self.data.cam_xpos[camera].copy(), rotation

    def camera_body(self, name: str) -> int:
        """The body camera `name` is fixed to (0: the world)."""
        return int(self.model.cam_bodyid[self.model.camera(name).id])

    def tcp_velocity(self) -> tuple[np.ndarray, np.ndarray]:
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_SITE, self._tcp, self._scratch_vel, 0)
        return self._scratch_vel[3:].copy(), self._scratch_vel[:3].copy()

    def joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.qpos[self._arm_qpos].copy(), self.data.qvel[self._arm_dof].copy()

    def gripper_width(self) -> float:
        return float(self.data.qpos[self._finger_qpos].sum())

    def cube_pose(self) -> tuple[np.ndarray, np.ndarray]:
        qpos = self.data.qpos[self._cube_qpos : self._cube_qpos + 7]
        return qpos[:3].copy(), qpos[3:].copy()

    def fingers_touch_cube(self) -> bool:
        if self.data.ncon == 0:
            return False
        pairs = self.data.contact.geom  # (ncon, 2) geom ids
        with_cube = pairs[(pairs == self._cube_geom).any(axis=1)]
        return self._pad_geoms.issubset(with_cube.ravel().tolist())

    # ----------------------------------------------------------------- commands

    def set_target(self, pos: np.ndarray, quat: np.ndarray) -> None:
        self.target_pos = np.array(pos, dtype=np.float64)
        self.target_quat = np.array(quat, dtype=np.float64)
        self._target_xyz = tuple(self.target_pos.tolist())

    def set_gripper(self, width: float, force: float) -> None:
        self.data.ctrl[self._gripper_acts] = width / 2
        if force != self._gripper_force:
            self.model.actuator_forcerange[self._gripper_acts] = (-force, force)
            self._gripper_force = force

    def hold(self) -> None:
        self.set_target(*self.tcp_pose())

    # ----------------------------------------------------------------- physics

    def step(self, substeps: int) -> None:
        """Advance `substeps` physics steps, refreshing the clipped error every clip period."""
        data, model = self.data, self.model
        clip_t, clip_r = self.config.clip_translation, self.config.clip_rotation
        tx, ty, tz = self._target_xyz
        tcp_xpos, tcp_xmat = self._tcp_xpos, self._tcp_xmat
        mocap_pos, mocap_quat, rot = self._mocap_pos, self._mocap_quat, self._scratch_rot
        done = 0
        while done < substeps:
            n = min(self._substeps_per_clip, substeps - done)
            px, py, pz = tcp_xpos.tolist()
            mocap_pos[0] = px + min(max(tx - px, -clip_t), clip_t)
            mocap_pos[1] = py + min(max(ty - py, -clip_t), clip_t)
            mocap_pos[2] = pz + min(max(tz - pz, -clip_t), clip_t)
            mujoco.mju_mat2Quat(mocap_quat, tcp_xmat)
            mujoco.mju_subQuat(rot, self.target_quat, mocap_quat)
            rx, ry, rz = rot.tolist()
            angle = math.sqrt(rx * rx + ry * ry + rz * rz)
            mujoco.mju_quatIntegrate(mocap_quat, rot, min(1.0, clip_r / angle) if angle > 0 else 0.0)
            mujoco.mj_step(model, data, nstep=n)
            done += n
        self.physics_version += 1
        if not np.isfinite(data.qpos).all() or not np.isfinite(data.qvel).all():
            self.fault = "simulation became unstable; reset the episode"
            mujoco.mj_resetData(model, data)
            self.reset(HOME_JOINTS, cube_xy_yaw=self.default_cube_pose())

    def default_cube_pose(self) -> tuple[float, float, float]:
        c = self.config
        return (sum(c.cube_x) / 2, sum(c.cube_y) / 2, 0.0)

    def random_cube_pose(self, rng: np.random.Generator) -> tuple[float, float, float]:
        x, y, yaw = self.config.cube_ranges()
        return (float(rng.uniform(*x)), float(rng.uniform(*y)), float(rng.uniform(*yaw)))

    def reset(self, joints: np.ndarray, cube_xy_yaw: tuple[float, float, float]) -> None:
        """Put the arm at `joints` with open fingers and the cube on the table, at rest."""
        model, data = self.model, self.data
        mujoco.mj_resetData(model, data)
        data.qpos[self._arm_qpos] = np.clip(joints, self.joint_lower, self.joint_upper)
        data.qpos[self._finger_qpos] = self.max_gripper_width / 2
        x, y, yaw = cube_xy_yaw
        data.qpos[self._cube_qpos : self._cube_qpos + 7] = (
            x,
            y,
            self.cube_half_size,
            np.cos(yaw / 2),
            0.0,
            0.0,
            np.sin(yaw / 2),
        )
        mujoco.mj_forward(model, data)
        self.cube_rest_height = self.cube_half_size
        self.set_gripper(self.max_gripper_width, float(model.actuator_forcerange[self._gripper_acts][0, 1]))
        self.hold()
        self._mocap_pos[:] = self.target_pos
        self._mocap_quat[:] = self.target_quat
        self.step(self._substeps_per_clip * 2)  # let contacts settle
        self.fault = ""
