"""Weights that do not fit are ignored by the actor: it goes on acting with the policy it has."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from actor.config import ActorConfig
from actor.env import EnvConfig
from actor.intervention import InterventionConfig
from actor.process import Actor
from learner.config import LearnerConfig
from learner.policy import Policy
from tests.conftest import free_port
from wire.weights import Weights

SMALL = LearnerConfig(cameras=(), state_dim=13, action_dim=7)


@pytest.fixture
def actor() -> Iterator[Actor]:
    addresses = [f"tcp://127.0.0.1:{free_port()}" for _ in range(6)]
    config = ActorConfig(
        actor_id="weights-actor",
        env=EnvConfig(server=addresses[5], images=False),
        intervention=InterventionConfig(commands=addresses[0], proposals=None),
        transitions=addresses[1],
        weights=addresses[2],
        learner_status=addresses[3],
        status=addresses[4],
    )
    made = Actor(config)
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
