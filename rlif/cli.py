"""`rlif SUBCOMMAND`: the one command, its subcommands in one table (`COMMANDS`).

Every subcommand takes its settings the same way: its dataclass's defaults, then a YAML file
(`--config FILE.yaml`, what a launcher writes and what belongs to a site), then its flags;
`rlif SUBCOMMAND --help` lists them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import tyro

from actor.config import ActorConfig, EvalConfig
from actor.record import RecordConfig
from calibration.cli import calibrate
from calibration.config import CalibrateConfig
from learner.service_config import LearnerServiceConfig
from rlif import learner_cli, pair_cli, teleop_cli
from rlif.config_files import parse_with_config_file
from rlif.sim_config import SimDemoConfig, SimRunConfig
from robot_server.config import ServerConfig
from teleop.live import TeleopConfig
from wire.ports import SERVER, local
from wire.security import BindError

DESCRIPTION = (
    "The RLIF robot stack. Every subcommand takes its settings from its defaults, then a YAML file "
    "(--config FILE.yaml), then its flags; `rlif SUBCOMMAND --help` lists them."
)


@dataclass(frozen=True)
class KeysConfig:
    folder: tyro.conf.Positional[Path]
    """Where to write the server's and one client's CurveZMQ key pairs."""


def keys(config: KeysConfig) -> None:
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
    server: str = local(SERVER)
    """Request address of a running robot server."""
    images: bool = True
    """Check the image configuration (False: state-only)."""
    mode: Literal["lockstep", "realtime"] | None = None
    """The mode to check the environment in; None: the server's current mode."""
    hardware: bool = False
    """Run the first-run checklist of the arm instead: read the state, move 1 cm out and back
    slowly, gripper, STOP, watchdog; stops at the first failure."""


def check(config: CheckConfig) -> int:
    from robot_server.client import RobotClient

    if config.hardware:
        from robot_server.checklist import Checklist

        with RobotClient(config.server) as client:
            return 0 if Checklist(client).run() else 1

    from gymnasium.utils.env_checker import check_env

    from actor.env import EnvConfig, RobotEnv

    mode = config.mode
    if mode is None:
        with RobotClient(config.server) as client:
            mode = client.info()["mode"]
    env = RobotEnv(EnvConfig(server=config.server, images=config.images, mode=mode))
    try:
        check_env(env, skip_render_check=True)
        print("check_env passed:", env.observation_space)
    finally:
        env.close()
    return 0


@dataclass(frozen=True)
class CamerasConfig:
    list: bool = True
    """List the connected RealSense cameras: serial, model, firmware, USB, modes and intrinsics."""


def cameras(config: CamerasConfig) -> int:
    import json

    from robot_server.backends.realsense.listing import list_cameras

    found = list_cameras()
    for camera in found:
        print(json.dumps(camera, indent=2))
    if not found:
        print("no RealSense camera found (is it plugged into USB 3, and are the udev rules installed?)")
    return 0 if found else 1


def sim(config: SimRunConfig) -> int:
    from rlif.sim_run import run_sim

    return run_sim(config)


def demo(config: SimDemoConfig) -> int:
    from rlif.sim_demo import run_sim_demo

    return run_sim_demo(config)


def evaluate(config: EvalConfig) -> int:
    """`rlif eval`; `--run RUN_DIR` evaluates a `rlif sim` run with its own settings. A policy and
    a server that do not fit each other, or a run folder that is not one, end it with one line."""
    from learner.policy import ObservationMismatch
    from rlif.config_files import ConfigFileError
    from rlif.processes import ChildFailed
    from rlif.sim_eval import RunSettingsError, evaluate_run

    if config.scene_range is not None and config.run is None:
        print(
            "rlif eval: --scene-range needs --run (a server of your own: rlif server --arm.scene-range)",
            file=sys.stderr,
        )
        return 2
    try:
        return pair_cli.evaluate(config) if config.run is None else evaluate_run(config)
    except ObservationMismatch as exc:
        hint = (
            "" if config.run is not None else " (`rlif eval --run RUN_DIR` evaluates a sim run with its own settings)"
        )
        print(f"rlif eval: {exc}{hint}", file=sys.stderr)
    except (RunSettingsError, ConfigFileError, ChildFailed, FileNotFoundError) as exc:
        print(f"rlif eval: {exc}", file=sys.stderr)
    return 2


@dataclass(frozen=True)
class Command:
    config: type
    """The settings dataclass (defaults, then --config FILE, then flags)."""
    run: Callable[[Any], int | None]
    """Runs the subcommand; an exit code, or None when it just ends."""
    description: str
    logs: bool = True
    """Log INFO and above to stderr."""


COMMANDS: dict[str, Command] = {
    "server": Command(ServerConfig, pair_cli.server, "Run a robot server (the simulated arm by default) until Ctrl-C."),
    "sim": Command(
        SimRunConfig,
        sim,
        "The main job: robot server, learner, simulated operator and actor against the simulated arm.",
        logs=False,
    ),
    "demo": Command(
        SimDemoConfig, demo, "A sim robot server and a scripted pick through the env, with a report and a GIF."
    ),
    "learner": Command(
        LearnerServiceConfig,
        pair_cli.learner,
        "The learner process: receives actors' transitions, trains, publishes weights.",
    ),
    "actor": Command(
        ActorConfig,
        pair_cli.actor,
        "The actor process: the policy on the robot, the operator's takeovers, every step to the learner.",
    ),
    "eval": Command(
        EvalConfig,
        evaluate,
        "Evaluate a policy: deterministic actions, N episodes, a success report, optional MP4 videos.",
    ),
    "cameras": Command(
        CamerasConfig, cameras, "List the connected RealSense cameras and their intrinsics.", logs=False
    ),
    "keys": Command(KeysConfig, keys, "Make CurveZMQ keys for a server that listens beyond loopback.", logs=False),
    "check": Command(
        CheckConfig,
        check,
        "Check a running robot server: gymnasium's environment checker, or (--hardware) the arm's first-run checklist.",
        logs=False,
    ),
    "teleop": Command(
        TeleopConfig,
        teleop_cli.teleop,
        "Publish a person's SpaceMouse (or keyboard) as the teleop stream the actor merges.",
    ),
    "operator": Command(
        teleop_cli.OperatorCliConfig,
        teleop_cli.operator,
        "A simulated operator (scripted expert + intervention model) answering the actor's proposals.",
    ),
    "record": Command(
        RecordConfig,
        teleop_cli.record,
        "Record operator-driven episodes (a person through `rlif teleop`, or --scripted PRESET) as demonstrations.",
    ),
    "train": Command(
        learner_cli.TrainConfig,
        learner_cli.train,
        "Train offline from recorded episodes, with checkpoints, metrics and learning curves.",
    ),
    "plot": Command(
        learner_cli.PlotConfig,
        learner_cli.plot,
        "Render PNG learning curves (success and intervention rate against env steps and wall time).",
        logs=False,
    ),
    "calibrate": Command(
        CalibrateConfig,
        calibrate,
        "Calibrate against a running robot server: camera intrinsics, hand-eye poses, the workspace box, crops.",
        logs=False,
    ),
}


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else list(args)
    try:
        code = _run(argv)
    except BindError as exc:  # a refusal to listen is the user's to fix, not a crash
        print(f"rlif: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if code is not None:
        raise SystemExit(code)


def _run(argv: list[str]) -> int | None:
    if argv and argv[0] in COMMANDS:
        name = argv[0]
        config = parse_with_config_file(COMMANDS[name].config, argv[1:], f"rlif {name}", COMMANDS[name].description)
    else:  # `rlif --help`, or a mistake: tyro prints the subcommands
        name, config = _parse_without_subcommand(argv)
    command = COMMANDS[name]
    if command.logs:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    return command.run(config)


def _parse_without_subcommand(argv: list[str]) -> tuple[str, Any]:
    choices = tuple(
        Annotated[Any, tyro.conf.subcommand(name, constructor=command.config, description=command.description)]
        for name, command in COMMANDS.items()
    )
    union: Any = Union[choices]  # noqa: UP007 (the X | Y form takes no tuple)
    config = tyro.cli(union, args=argv, prog="rlif", description=DESCRIPTION)
    return next(name for name, command in COMMANDS.items() if isinstance(config, command.config)), config
