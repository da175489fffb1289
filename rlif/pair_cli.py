"""`rlif learner`, `rlif actor` and `rlif eval`: the learner/actor pair as separate processes.

Each takes its settings from the dataclass defaults, then a YAML file (`--config site.yaml`,
for what belongs to a site: hosts and ports, robot and camera settings), then the flags.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tyro

from actor.config import ActorConfig
from learner.service_config import LearnerServiceConfig
from rlif.config_files import ConfigFileError, load_config, split_config_flag


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")


def parse_with_config_file(config_type: Any, args: list[str], prog: str, description: str) -> Any:
    """Defaults, then `--config FILE.yaml`, then flags."""
    path, rest = split_config_flag(args)
    try:
        default = load_config(config_type(), path)
    except ConfigFileError as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    # A setting that may hold one of several backends' settings (the server's `arm`) takes its
    # kind from the YAML file; the flags then set that kind's fields.
    return tyro.cli(
        config_type,
        default=default,
        args=rest,
        prog=prog,
        description=description,
        config=(tyro.conf.AvoidSubcommands,),
    )


def learner_main(args: list[str]) -> int:
    from learner.service import run_learner

    config = parse_with_config_file(
        LearnerServiceConfig, args, "rlif learner", "The learner process: receives transitions, publishes weights."
    )
    _logging()
    return run_learner(config)


def actor_main(args: list[str]) -> int:
    from actor.process import run_actor

    config = parse_with_config_file(
        ActorConfig, args, "rlif actor", "The actor process: runs the policy on the robot, streams every step."
    )
    _logging()
    return run_actor(config)


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation: the policy alone (no learning, no operator), deterministic actions."""

    actor: ActorConfig = field(default_factory=lambda: ActorConfig(deterministic=True))
    """The robot and the learner's weights address (or use --policy)."""
    policy: Path | None = None
    """A policy file (`rlif train` writes policy.npz) instead of the learner's weights."""
    episodes: int = 20
    """Episodes to run."""
    video_dir: Path | None = None
    """Write an MP4 per episode there, cameras side by side, the controller drawn on them."""
    seed: int = 1000
    """Seed of the episodes' scene randomisation."""
    report: Path | None = None
    """Also write the report there as JSON (episodes, successes, success_rate, assisted, ...)."""


def eval_main(args: list[str]) -> int:
    from actor.evaluate import evaluate

    config = parse_with_config_file(EvalConfig, args, "rlif eval", "Evaluate a policy: success rate over N episodes.")
    _logging()
    report = evaluate(config)
    print(report.summary())
    if config.report is not None:
        config.report.parent.mkdir(parents=True, exist_ok=True)
        config.report.write_text(json.dumps(report.as_dict()))
    return 0


def server_main(args: list[str]) -> int:
    from robot_server.config import ServerConfig
    from robot_server.server import run_server

    config = parse_with_config_file(ServerConfig, args, "rlif server", "Run a robot server until Ctrl-C.")
    _logging()
    run_server(config)
    return 0


COMMANDS = {"learner": learner_main, "actor": actor_main, "eval": eval_main, "server": server_main}
"""Subcommands that read YAML settings; `rlif.cli.main` hands their arguments here."""


def dispatch(args: list[str]) -> int | None:
    """Run one of COMMANDS if `args` names it; None otherwise."""
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(dispatch(sys.argv[1:]) or 0)
