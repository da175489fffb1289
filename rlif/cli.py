"""`rlif SUBCOMMAND --help` lists each subcommand's options."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from robot_server.config import ServerConfig


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def server(config: Annotated[ServerConfig, tyro.conf.arg(name="")]) -> None:
    """Run a robot server (the simulated arm by default) until Ctrl-C."""
    from robot_server.server import run_server

    _logging()
    run_server(config)


def sim(config: Annotated[SimDemoConfig, tyro.conf.arg(name="")]) -> None:
    """The main job: a sim robot server and a scripted pick through the env, with a report."""
    from rlif.sim_demo import run_sim_demo

    _logging()
    raise SystemExit(run_sim_demo(config))


@dataclass(frozen=True)
class KeysConfig:
    folder: Path
    """Where to write the server's and one client's CurveZMQ key pairs."""


def keys(config: Annotated[KeysConfig, tyro.conf.arg(name="")]) -> None:
    """Make CurveZMQ keys for a server that listens beyond loopback."""
    from robot_server.security import make_keys

    made = make_keys(config.folder)
    for role, path in made.items():
        print(f"{role:15s} {path}")
    print(
        "server: rlif server --host 0.0.0.0 --curve-secret-key",
        made["server_secret"],
        "--curve-clients",
        made["clients"],
    )


@dataclass(frozen=True)
class CheckConfig:
    server: str = "tcp://127.0.0.1:5555"
    """Request address of a running robot server."""
    images: bool = True
    """Check the image configuration (False: state-only)."""


def check(config: Annotated[CheckConfig, tyro.conf.arg(name="")]) -> None:
    """Run gymnasium's environment checker against a running robot server."""
    from gymnasium.utils.env_checker import check_env

    from actor.env import EnvConfig, RobotEnv

    env = RobotEnv(EnvConfig(server=config.server, images=config.images))
    try:
        check_env(env, skip_render_check=True)
        print("check_env passed:", env.observation_space)
    finally:
        env.close()


from rlif.sim_demo import SimDemoConfig  # noqa: E402  (after the functions tyro reads)


def main(args: list[str] | None = None) -> None:
    from rlif import learner_cli, teleop_cli

    tyro.extras.subcommand_cli_from_dict(
        {
            "server": server,
            "sim": sim,
            "keys": keys,
            "check": check,
            "teleop": teleop_cli.teleop,
            "operator": teleop_cli.operator,
            "record": teleop_cli.record,
            "train": learner_cli.train,
            "plot": learner_cli.plot,
        },
        args=args,
        prog="rlif",
    )
