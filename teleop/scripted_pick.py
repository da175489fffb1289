"""A scripted expert for the simulated pick task.

It is a function of the robot's state alone (including the sim-only cube pose), so it
can act from any state, e.g. to relabel states for DAgger: above the cube it
descends, at the cube it closes the gripper, holding the cube it lifts, and anywhere
else it goes to the pre-grasp pose above the cube (first up, if it is low and off
the cube, so as not to push it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wire.action import ROTATION_SCALE, TRANSLATION_SCALE
from wire.geometry import quat_from_rotvec, quat_mul, rotation_between

GRIPPER_DOWN = np.array([0.0, 1.0, 0.0, 0.0])
GRIPPER_CLOSED_WIDTH = 0.07
"""Below this finger opening (metres) the gripper counts as closed (the cube is 5 cm wide)."""


@dataclass(frozen=True)
class PickGains:
    translation_scale: float = TRANSLATION_SCALE
    """Metres per unit action (the server's action_scale.translation)."""
    rotation_scale: float = ROTATION_SCALE
    """Radians per unit action (the server's action_scale.rotation)."""
    approach_height: float = 0.08
    """Height of the pre-grasp pose above the cube centre, metres."""
    grasp_depth: float = 0.005
    """How far below the cube centre the TCP goes to grasp, metres."""
    lift_height: float = 0.15
    """Height above the table the cube is carried to, metres."""
    xy_tolerance: float = 0.008
    """Horizontal alignment needed before descending, metres."""
    yaw_tolerance: float = 0.08
    """Yaw alignment needed before descending, rad."""
    gain: float = 1.5
    """Proportional gain from pose error (in action units) to action."""


def grasp_yaw(cube_quat: np.ndarray) -> float:
    """The TCP yaw that aligns the fingers with the cube's faces, nearest to zero."""
    w, _, _, z = cube_quat
    yaw = 2.0 * np.arctan2(z, w)
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


def grasp_quat(cube_quat: np.ndarray) -> np.ndarray:
    """The gripper-down TCP orientation that grasps the cube."""
    return quat_mul(quat_from_rotvec(np.array([0.0, 0.0, grasp_yaw(cube_quat)])), GRIPPER_DOWN)


def scripted_pick_action(state: dict[str, Any], gains: PickGains = PickGains()) -> np.ndarray:
    """Normalised 7-D action that picks up the cube, from a robot server state map."""
    tcp = np.asarray(state["tcp_pos"], dtype=np.float64)
    tcp_quat = np.asarray(state["tcp_quat"], dtype=np.float64)
    cube = np.asarray(state["sim_cube_pos"], dtype=np.float64)
    cube_quat = np.asarray(state["sim_cube_quat"], dtype=np.float64)
    width = float(state["gripper_width"])
    holding = bool(state.get("sim_grasped")) and width < GRIPPER_CLOSED_WIDTH

    desired_quat = grasp_quat(cube_quat)
    rotation_error = rotation_between(tcp_quat, desired_quat)
    aligned_xy = np.linalg.norm(tcp[:2] - cube[:2]) < gains.xy_tolerance
    aligned_yaw = np.linalg.norm(rotation_error) < gains.yaw_tolerance
    grasp_z = cube[2] - gains.grasp_depth

    gripper = 1.0
    if holding:
        goal = np.array([tcp[0], tcp[1], gains.lift_height])
        gripper = -1.0
    elif aligned_xy and aligned_yaw:
        if tcp[2] > grasp_z + 0.01:
            goal = np.array([cube[0], cube[1], grasp_z])
        else:
            goal = np.array([cube[0], cube[1], grasp_z])
            gripper = -1.0
    else:
        goal = np.array([cube[0], cube[1], cube[2] + gains.approach_height])
        if tcp[2] < cube[2] + gains.approach_height - 0.02 and np.linalg.norm(tcp[:2] - cube[:2]) > 0.02:
            goal = np.array([tcp[0], tcp[1], cube[2] + gains.approach_height])
        if width < GRIPPER_CLOSED_WIDTH:
            goal = tcp.copy()  # open before moving on

    action = np.zeros(7)
    action[:3] = np.clip(gains.gain * (goal - tcp) / gains.translation_scale, -1.0, 1.0)
    action[3:6] = np.clip(gains.gain * rotation_error / gains.rotation_scale, -1.0, 1.0)
    action[6] = gripper
    return action
