"""Q_ref of the sim pick task: an analytic task-progress value, for the value-based operator.

`PickValue.q(state, action)` is minus the number of control steps the scripted pick would
still need after `action` is applied in `state`, with the next state predicted in one step:
the TCP moves by the action's translation (scaled like the server's actions), the rotation
error shrinks by the action's rotation, and the gripper command closes (around the cube if the
TCP is at the grasp point, else on nothing, which costs a regrasp) or opens (dropping a held
cube). The remaining path to the grasp point runs outside a cone around the cube: a TCP low and
beside the cube must first climb, as the scripted expert does, so as not to push it.
All lengths are counted in steps of `translation_scale` metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from teleop.scripted_pick import GRIPPER_CLOSED_WIDTH, PickGains, grasp_quat
from wire.geometry import rotation_between


@dataclass(frozen=True)
class PickValue:
    gains: PickGains = field(default_factory=PickGains)
    cone_slope: float = 2.0
    """Lowest safe TCP height grows by this much per metre of horizontal distance from the cube."""
    regrasp_steps: float = 3.0
    """Cost of a gripper closed on nothing: open it again and come back."""
    close_steps: float = 1.0
    """Cost of closing the gripper at the grasp point."""
    grasp_xy_tolerance: float = 0.012
    """Horizontal distance from the cube within which closing grasps it, metres."""
    grasp_z_tolerance: float = 0.012
    """Height error from the grasp height within which closing grasps it, metres."""

    def _path(self, tcp: np.ndarray, cube: np.ndarray) -> float:
        """Metres from the TCP to the grasp point, going around the cone above the cube."""
        grasp_z = cube[2] - self.gains.grasp_depth
        approach_z = cube[2] + self.gains.approach_height
        horizontal = float(np.linalg.norm(tcp[:2] - cube[:2]))
        clearance = min(approach_z, grasp_z + self.cone_slope * horizontal)
        climb = max(0.0, clearance - tcp[2])
        return horizontal + abs(tcp[2] - grasp_z) + 2.0 * climb

    def _lift(self, z: float) -> float:
        return max(0.0, self.gains.lift_height - z)

    def q(self, state: dict[str, Any], action: np.ndarray) -> float:
        """Minus the steps still needed after `action` in `state` (higher is better)."""
        gains = self.gains
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        tcp = np.asarray(state["tcp_pos"], dtype=np.float64)
        cube = np.asarray(state["sim_cube_pos"], dtype=np.float64)
        width = float(state["gripper_width"])
        holding = bool(state.get("sim_grasped")) and width < GRIPPER_CLOSED_WIDTH
        closing = action[6] < 0.0
        next_tcp = tcp + action[:3] * gains.translation_scale

        if holding:
            if not closing:  # opening drops the cube
                remaining = self._path(next_tcp, cube) + self._lift(cube[2])
                return -remaining / gains.translation_scale - self.close_steps
            return -self._lift(next_tcp[2]) / gains.translation_scale

        desired = grasp_quat(np.asarray(state["sim_cube_quat"], dtype=np.float64))
        error = rotation_between(np.asarray(state["tcp_quat"], dtype=np.float64), desired)
        rotation_steps = float(np.linalg.norm(error - action[3:6] * gains.rotation_scale)) / gains.rotation_scale
        grasp_z = cube[2] - gains.grasp_depth
        at_grasp = (
            np.linalg.norm(tcp[:2] - cube[:2]) < self.grasp_xy_tolerance
            and abs(tcp[2] - grasp_z) < self.grasp_z_tolerance
            and np.linalg.norm(error) < 2 * gains.yaw_tolerance
        )
        if closing and at_grasp:
            steps = self._lift(grasp_z) / gains.translation_scale
            return -steps
        steps = (self._path(next_tcp, cube) + self._lift(grasp_z)) / gains.translation_scale
        steps += rotation_steps + self.close_steps
        if closing:
            steps += self.regrasp_steps
        elif width < GRIPPER_CLOSED_WIDTH:
            steps += self.close_steps  # opening a gripper closed on nothing takes a step
        return -steps
