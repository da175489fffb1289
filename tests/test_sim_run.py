"""`rlif sim`'s wiring: what it asks of the processes it starts."""

from __future__ import annotations

import pytest

from rlif.pair_cli import parse_with_config_file
from rlif.sim_run import Ports, SimRunConfig, server_command
from robot_server.backends.mujoco_sim.world import SimConfig
from robot_server.config import ServerConfig


@pytest.mark.parametrize("fraction", [0.4, 1.0])
def test_server_draws_cubes_from_the_scene_range_about_the_centres(fraction: float) -> None:
    command = server_command(SimRunConfig(scene_range=fraction), Ports(), image_size=64)
    args = command[command.index("server") + 1 :]
    server = parse_with_config_file(ServerConfig, args, "rlif server", "")
    full = SimConfig()
    for name in ("cube_x", "cube_y", "cube_yaw"):
        (low, high), (full_low, full_high) = getattr(server.sim, name), getattr(full, name)
        assert high - low == pytest.approx(fraction * (full_high - full_low), abs=1e-3)
        assert (low + high) / 2 == pytest.approx((full_low + full_high) / 2, abs=1e-3)
    assert server.mode == "lockstep" and server.sim.image_height == server.sim.image_width == 64
