"""The processes of a learner/actor pair and its robot: `rlif server`, `rlif learner`,
`rlif actor` and `rlif eval`. Each runs one process of ours until it ends or is stopped
(SIGINT/SIGTERM, wired in `wire.lifecycle`); heavy imports happen only here, when run."""

from __future__ import annotations

import json

from actor.config import ActorConfig, EvalConfig
from learner.service_config import LearnerServiceConfig
from robot_server.config import ServerConfig


def server(config: ServerConfig) -> int:
    from robot_server.server import run_server

    run_server(config)
    return 0


def learner(config: LearnerServiceConfig) -> int:
    from learner.service import run_learner

    return run_learner(config)


def actor(config: ActorConfig) -> int:
    from actor.process import run_actor

    return run_actor(config)


def evaluate(config: EvalConfig) -> int:
    from actor.evaluate import evaluate as run_evaluation

    report = run_evaluation(config)
    print(report.summary())
    if config.report is not None:
        config.report.parent.mkdir(parents=True, exist_ok=True)
        config.report.write_text(json.dumps(report.as_dict()))
    return 0
