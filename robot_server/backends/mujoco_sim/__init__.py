"""MuJoCo simulation of a Franka Panda with a parallel gripper, a table and a cube."""

import os

# Headless rendering; must be chosen before mujoco is first imported.
os.environ.setdefault("MUJOCO_GL", "egl")
