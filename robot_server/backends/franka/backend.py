"""The Franka arm as a server backend: the arm and its gripper; no clock or scene.

A rig for the registry (`FrankaBackend(config)` from a `FrankaArmConfig`; cameras come from
their own backend), and on its own a whole backend with no cameras (`cameras`). Importing this
module loads franky, which the configuration module does not.
"""

from __future__ import annotations

import numpy as np

from robot_server.backends.franka.arm import FrankaArm
from robot_server.backends.franka.config import FrankaArmConfig
from robot_server.backends.franka.gripper import FrankaGripper
from robot_server.backends.franka.gripper_seam import GripperSeam
from robot_server.backends.franka.seam import FrankySeam
from robot_server.backends.no_cameras import NoCameras, NoCamerasConfig


class FrankaBackend:
    """Connects at construction (raises with what to check); `close` stops the arm and hangs up."""

    clock = None
    scene = None
    physics_dt = None
    capabilities: frozenset[str] = frozenset()

    def __init__(self, config: FrankaArmConfig | None = None, seam: FrankySeam | None = None) -> None:
        self.config = config = config or FrankaArmConfig()
        seam = seam or FrankySeam(config)
        gripper = FrankaGripper(GripperSeam(config), config) if config.has_gripper else None
        self.arm = FrankaArm(config, seam, gripper)
        self.cameras = NoCameras(NoCamerasConfig())
        self.joint_noise = config.joint_noise
        try:
            self.arm.start()
            if gripper is not None:
                gripper.start()
        except BaseException:
            self.arm.close()
            raise

    def reset(self, joints: np.ndarray, rng: np.random.Generator | None, randomize_scene: bool) -> None:
        """A joint motion to `joints` (blocking, bounded), then hold the pose there."""
        self.arm.move_to_joints(np.asarray(joints, dtype=float))

    def state_version(self) -> int | None:
        """Hardware moves on its own: every reading is fresh."""
        return None

    def close(self) -> None:
        self.arm.close()
