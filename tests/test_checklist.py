"""`rlif check --hardware`: the first-run checklist against a running server, step by step, stopping
at the first failure."""

from __future__ import annotations

import pytest

from robot_server.checklist import Checklist


@pytest.mark.parametrize("mode", ["realtime", "lockstep"])
def test_the_checklist_passes_on_a_healthy_arm(start_server, mode: str) -> None:
    running = start_server(mode=mode)
    lines: list[str] = []
    with running.client() as client:
        assert Checklist(client, report=lines.append).run(), lines
    assert [line.split()[0] for line in lines] == ["ok"] * 5
    assert not running.service.stopped


def test_the_checklist_stops_at_the_first_failure(start_server) -> None:
    running = start_server(mode="lockstep")
    world = running.service.backend.rig.world
    world.fault = "cartesian reflex"
    world.physics_version += 1  # as a fault raised while stepping would
    lines: list[str] = []
    with running.client() as client:
        assert not Checklist(client, report=lines.append).run()
    assert len(lines) == 1 and lines[0].startswith("FAIL  read the state") and "cartesian reflex" in lines[0]


@pytest.mark.parametrize("mode", ["realtime", "lockstep"])
def test_rlif_check_runs_gymnasiums_checker_in_the_servers_mode(start_server, capsys, mode: str) -> None:
    from rlif.cli import main

    running = start_server(mode=mode)
    try:
        main(["check", "--server", running.address])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    assert "check_env passed" in capsys.readouterr().out
    assert running.service.mode == mode
