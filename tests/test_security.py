"""Binding: loopback by default; anything else only with CurveZMQ keys."""

from __future__ import annotations

import pytest

from robot_server.client import RobotClient, RobotUnavailable
from wire.security import BindError, CurveKeys, check_bind, make_keys


def test_non_loopback_bind_needs_keys(tmp_path) -> None:
    check_bind("127.0.0.1", None, None)
    check_bind("localhost", None, None)
    with pytest.raises(BindError, match="CurveZMQ"):
        check_bind("0.0.0.0", None, None)
    keys = make_keys(tmp_path)
    check_bind("0.0.0.0", keys["server_secret"], keys["clients"])


def test_curve_lets_known_clients_in_and_keeps_others_out(start_server, tmp_path) -> None:
    keys = make_keys(tmp_path / "keys")
    running = start_server(curve_secret_key=keys["server_secret"], curve_clients=keys["clients"])
    known = RobotClient(running.address, timeout=2.0, curve=CurveKeys(keys["server_public"], keys["client_secret"]))
    assert known.state()["mode"] == "lockstep"
    known.close()
    plain = RobotClient(running.address, timeout=0.5, retries=0)
    with pytest.raises(RobotUnavailable):
        plain.state()
    plain.close()
    stranger_keys = make_keys(tmp_path / "stranger")
    stranger = RobotClient(
        running.address, timeout=0.5, retries=0, curve=CurveKeys(keys["server_public"], stranger_keys["client_secret"])
    )
    with pytest.raises(RobotUnavailable):
        stranger.state()
    stranger.close()


def test_rlif_keys_takes_the_folder_as_the_readme_says(tmp_path, capsys) -> None:
    from rlif.cli import main

    main(["keys", str(tmp_path / "keys")])
    assert (tmp_path / "keys" / "server.key_secret").is_file()
    assert (tmp_path / "keys" / "clients" / "client.key").is_file()
    assert "--curve-secret-key" in capsys.readouterr().out


def test_binding_off_loopback_without_keys_is_one_line_not_a_traceback(capsys) -> None:
    from rlif.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["server", "--host", "0.0.0.0"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("rlif: refusing to bind 0.0.0.0") and "rlif keys DIR" in error
    assert "Traceback" not in error and len(error.splitlines()) == 1


def test_the_env_reaches_a_robot_server_that_needs_keys(start_server, tmp_path) -> None:
    from actor.env import EnvConfig, RobotEnv

    keys = make_keys(tmp_path / "keys")
    running = start_server(curve_secret_key=keys["server_secret"], curve_clients=keys["clients"])
    curve = CurveKeys(keys["server_public"], keys["client_secret"])
    env = RobotEnv(EnvConfig(server=running.address, images=False, server_curve=curve))
    try:
        observation, _ = env.reset(seed=0)
        assert observation["state"].shape == (13,)
    finally:
        env.close()
