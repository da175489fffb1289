"""Weights that do not fit are ignored by the actor: it goes on acting with the policy it has; a
first policy that does not fit the robot's observations stops it with both shapes named."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pytest

from actor.config import ActorConfig
from actor.env import EnvConfig
from actor.intervention import InterventionConfig
from actor.process import Actor
from learner.config import LearnerConfig
from learner.policy import ObservationMismatch, Policy
from tests.conftest import free_port
from wire.weights import Weights

SMALL = LearnerConfig(cameras=(), state_dim=13, action_dim=7)


def actor_config(server: str | None = None) -> ActorConfig:
    addresses = [f"tcp://127.0.0.1:{free_port()}" for _ in range(6)]
    return ActorConfig(
        actor_id="weights-actor",
        env=EnvConfig(server=server or addresses[5], images=False),
        intervention=InterventionConfig(commands=addresses[0], proposals=None, sync="latest"),
        transitions=addresses[1],
        weights=addresses[2],
        learner_status=addresses[3],
        status=addresses[4],
    )


@pytest.fixture
def actor() -> Iterator[Actor]:
    made = Actor(actor_config())
    yield made
    made.sender.flush = lambda timeout: True  # type: ignore[method-assign]  # no learner to acknowledge
    made.close()


def offer(actor: Actor, weights: Weights) -> bool:
    actor.weights.latest = lambda timeout=0.0: weights  # type: ignore[method-assign]
    return actor.apply_weights()


def test_weights_that_do_not_fit_are_ignored_and_the_policy_kept(actor: Actor) -> None:
    good = Policy(SMALL, seed=0).arrays()
    assert offer(actor, Weights(1, dict(good), {"config": SMALL.to_dict()}))
    kept = actor.policy
    assert kept is not None
    observation = {"state": np.zeros(13, np.float32), "images": {}}
    before = kept.act(observation)
    bad_offers = [
        Weights(2, dict(good), {"config": {"algorithm": "no-such"}}),
        Weights(3, {name: array[:1] for name, array in good.items()}, {"config": SMALL.to_dict()}),
        Weights(4, {}, {"config": SMALL.to_dict()}),
        Weights(5, {name: np.full_like(array, np.nan) for name, array in good.items()}),
        Weights(6, dict(good), {"config": "not a map"}),
    ]
    for weights in bad_offers:
        assert not offer(actor, weights)
    assert actor.rejected_weights == len(bad_offers)
    assert actor.policy is kept and actor.version == 1
    assert kept is not None and np.array_equal(kept.act(observation), before)


def test_a_policy_that_does_not_fit_the_robot_is_refused(lockstep_server) -> None:
    wider = dataclasses.replace(SMALL, state_dim=18)
    fitting = Actor(actor_config(lockstep_server.address))
    try:
        assert offer(fitting, Weights(1, dict(Policy(SMALL, seed=0).arrays()), {"config": SMALL.to_dict()}))
        fitting.env = fitting._open_env()
        kept = fitting.policy
        assert not offer(fitting, Weights(2, dict(Policy(wider, seed=0).arrays()), {"config": wider.to_dict()}))
        assert fitting.rejected_weights == 1 and fitting.policy is kept and fitting.version == 1
    finally:
        fitting.sender.flush = lambda timeout: True  # type: ignore[method-assign]
        fitting.close()

    misfit = Actor(actor_config(lockstep_server.address))
    misfit._wait_for_first_weights = lambda: offer(  # type: ignore[method-assign, assignment]
        misfit, Weights(1, dict(Policy(wider, seed=0).arrays()), {"config": wider.to_dict()})
    )
    try:
        with pytest.raises(ObservationMismatch, match=r"state \(18,\).*state \(13,\)"):
            misfit.run()
        assert misfit.episodes == 0
    finally:
        misfit.sender.flush = lambda timeout: True  # type: ignore[method-assign]
        misfit.close()
