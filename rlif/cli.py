"""`rlif SUBCOMMAND --help` lists each subcommand's options."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from robot_server.config import ServerConfig
from wire.security import BindError


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def server(config: Annotated[ServerConfig, tyro.conf.arg(name="")]) -> None:
    """Run a robot server (the simulated arm by default) until Ctrl-C."""
    from robot_server.server import run_server

    _logging()
    run_server(config)


def sim(config: Annotated[SimRunConfig, tyro.conf.arg(name="")]) -> None:
    """The main job: robot server, learner, simulated operator and actor against the simulated arm."""
    from rlif.sim_run import run_sim

    raise SystemExit(run_sim(config))


def demo(config: Annotated[SimDemoConfig, tyro.conf.arg(name="")]) -> None:
    """A sim robot server and a scripted pick through the env, with a report and a GIF."""
    from rlif.sim_demo import run_sim_demo

    _logging()
    raise SystemExit(run_sim_demo(config))


def learner(config: Annotated[LearnerServiceConfig, tyro.conf.arg(name="")]) -> None:
    """The learner process: receives actors' transitions, trains, publishes weights. Also --config FILE.yaml."""
    raise SystemExit(pair_cli.learner_main([]))  # only reached for --help: dispatch() handles real runs


def actor(config: Annotated[ActorConfig, tyro.conf.arg(name="")]) -> None:
    """The actor process: the policy on the robot, the operator's takeovers, every step to the learner."""
    raise SystemExit(pair_cli.actor_main([]))


def evaluate(config: Annotated[EvalConfig, tyro.conf.arg(name="")]) -> None:
    """Evaluate a policy: deterministic actions, N episodes, a success report, optional MP4 videos."""
    raise SystemExit(pair_cli.eval_main([]))


@dataclass(frozen=True)
class KeysConfig:
    folder: tyro.conf.Positional[Path]
    """Where to write the server's and one client's CurveZMQ key pairs."""


def keys(config: Annotated[KeysConfig, tyro.conf.arg(name="")]) -> None:
    """Make CurveZMQ keys for a server that listens beyond loopback."""
    from wire.security import make_keys

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


from actor.config import ActorConfig  # noqa: E402  (after the functions tyro reads)
from learner.service_config import LearnerServiceConfig  # noqa: E402
from rlif import pair_cli  # noqa: E402
from rlif.pair_cli import EvalConfig  # noqa: E402
from rlif.sim_demo import SimDemoConfig  # noqa: E402
from rlif.sim_run import SimRunConfig  # noqa: E402


def main(args: list[str] | None = None) -> None:
    try:
        _main(args)
    except BindError as exc:  # a refusal to listen is the user's to fix, not a crash
        print(f"rlif: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _main(args: list[str] | None) -> None:
    from rlif import learner_cli, teleop_cli

    argv = sys.argv[1:] if args is None else list(args)
    code = pair_cli.dispatch(argv)  # the subcommands that also read YAML settings
    if code is not None:
        raise SystemExit(code)
    tyro.extras.subcommand_cli_from_dict(
        {
            "server": server,
            "sim": sim,
            "demo": demo,
            "learner": learner,
            "actor": actor,
            "eval": evaluate,
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
