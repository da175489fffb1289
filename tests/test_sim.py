"""The MuJoCo backend: the impedance controller tracks and holds, and runs are repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from robot_server.backends.mujoco_sim.config import SimConfig
from robot_server.backends.mujoco_sim.world import HOME_JOINTS, MujocoWorld
from wire.geometry import quat_from_rotvec, quat_mul, rotation_between


@pytest.fixture(scope="module")
def world() -> MujocoWorld:
    return MujocoWorld(SimConfig())


@pytest.mark.parametrize(
    ("offset", "turn"),
    [((0.10, 0.05, -0.20), (0, 0, 0)), ((0.0, -0.15, -0.3), (0, 0, 0.6)), ((0.2, 0.1, -0.1), (0.2, -0.2, 0))],
)
def test_controller_reaches_and_holds_a_target(world: MujocoWorld, offset, turn) -> None:
    world.reset(HOME_JOINTS, world.default_cube_pose())
    start_pos, start_quat = world.tcp_pose()
    target_pos = start_pos + np.array(offset)
    target_quat = quat_mul(quat_from_rotvec(np.array(turn, dtype=float)), start_quat)
    world.set_target(target_pos, target_quat)
    world.step(int(1.5 / world.config.physics_dt))
    pos, quat = world.tcp_pose()
    assert np.linalg.norm(pos - target_pos) < 0.003
    assert np.linalg.norm(rotation_between(quat, target_quat)) < 0.02
    errors = []
    for _ in range(50):  # hold for one more second
        world.step(10)
        errors.append(np.linalg.norm(world.tcp_pose()[0] - target_pos))
    assert max(errors) < 0.003


def test_error_clipping_bounds_the_pushing_force(world: MujocoWorld) -> None:
    """A target deep inside the table: the TCP presses with a bounded force, gently."""
    world.reset(HOME_JOINTS, (0.6, 0.25, 0.0))
    pos, quat = world.tcp_pose()
    world.set_target(np.array([pos[0], pos[1], 0.02]), quat)
    world.step(1000)
    world.set_target(np.array([pos[0], pos[1], -0.5]), quat)
    world.step(1000)
    data, model = world.data, world.model
    table = model.geom("table").id
    normal_force = 0.0
    force = np.zeros(6)
    import mujoco

    for index in range(data.ncon):
        contact = data.contact[index]
        if table in (contact.geom1, contact.geom2):
            mujoco.mj_contactForce(model, data, index, force)
            normal_force += force[0]
    clip = world.config.clip_translation * world.config.translational_stiffness
    assert 0 < normal_force < 1.5 * clip


def rollout(seed: int, steps: int = 30) -> np.ndarray:
    world = MujocoWorld(SimConfig())
    rng = np.random.default_rng(seed)
    world.reset(HOME_JOINTS + rng.uniform(-0.05, 0.05, 7), world.random_cube_pose(rng))
    trajectory = []
    for _ in range(steps):
        pos, quat = world.tcp_pose()
        world.set_target(pos + rng.uniform(-0.03, 0.03, 3), quat_mul(quat_from_rotvec(rng.uniform(-0.1, 0.1, 3)), quat))
        world.set_gripper(float(rng.uniform(0, 0.08)), 40.0)
        world.step(50)
        trajectory.append(np.concatenate([world.data.qpos, world.data.qvel]))
    return np.array(trajectory)


def test_same_seed_same_trajectory() -> None:
    first, second = rollout(7), rollout(7)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, rollout(8))


def test_cube_pose_is_randomised_within_its_ranges(world: MujocoWorld) -> None:
    rng = np.random.default_rng(0)
    poses = np.array([world.random_cube_pose(rng) for _ in range(200)])
    config = world.config
    assert poses[:, 0].min() >= config.cube_x[0] and poses[:, 0].max() <= config.cube_x[1]
    assert poses[:, 1].min() >= config.cube_y[0] and poses[:, 1].max() <= config.cube_y[1]
    assert np.ptp(poses[:, 0]) > 0.1 and np.ptp(poses[:, 2]) > 1.0


def test_success_oracle_needs_lift_and_grasp(world: MujocoWorld) -> None:
    from robot_server.backends.mujoco_sim.backend import SimPickScene

    scene = SimPickScene(world)
    world.reset(HOME_JOINTS, world.default_cube_pose())
    assert scene.observe()["success"] is False
    cube_qpos = world.model.joint("cube").qposadr[0]
    world.data.qpos[cube_qpos + 2] += 0.1  # lifted, but nothing holds it
    import mujoco

    mujoco.mj_forward(world.model, world.data)
    facts = scene.observe()
    assert facts["sim_cube_lift"] > 0.05 and facts["sim_grasped"] is False and facts["success"] is False
