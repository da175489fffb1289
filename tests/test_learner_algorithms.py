"""The table of algorithms: one spec per `LearnerConfig.algorithm`, the documented table matches
the specs, and every agent keeps the one interface and checkpoint layout."""

from __future__ import annotations

import copy
import re
from typing import cast, get_args

import numpy as np
import pytest

import learner.algorithms
from learner.agents.base import Agent
from learner.algorithms import ALGORITHMS, algorithm_spec
from learner.algorithms.spec import BUFFERS, BY_SOURCE, DEMOS, AlgorithmSpec
from learner.config import Algorithm, LearnerConfig
from learner.learner import Learner
from tests.learner_tasks import task_config

AGENTS = {"SACAgent": "SAC", "BCAgent": "BC"}


def test_every_algorithm_of_the_settings_has_one_spec() -> None:
    assert set(ALGORITHMS) == set(get_args(Algorithm))
    for name, spec in ALGORITHMS.items():
        assert spec.name == name
        assert algorithm_spec(LearnerConfig(algorithm=cast(Algorithm, name))) is spec  # a name checked just above
        assert spec.stores["prior"] == DEMOS


def documented_table() -> dict[str, list[str]]:
    rows = {}
    for line in (learner.algorithms.__doc__ or "").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_documented_table_says_what_the_specs_do() -> None:
    table = documented_table()
    assert set(table) == set(ALGORITHMS)
    for name, (learns, agent, policy, operator, prior, sampled) in table.items():
        spec = ALGORITHMS[name]
        assert learns == spec.learns
        assert agent == AGENTS[getattr(spec.agent, "__name__", "")]
        stored = {"policy": policy, "operator": operator, "prior": prior}
        assert {source: re.sub(r" \*$", "", cell) for source, cell in stored.items()} == dict(spec.stores)
        assert (policy.endswith("*") and operator.endswith("*")) == spec.expert_labels
        listed = BUFFERS if sampled == "all three" else tuple(part.strip() for part in sampled.split(","))
        assert listed == spec.samples


def test_a_spec_refuses_an_incomplete_routing() -> None:
    rlif = ALGORITHMS["rlif"]
    with pytest.raises(ValueError, match="stores"):
        AlgorithmSpec("x", "", rlif.rewards, {"policy": "online"}, BUFFERS, rlif.agent)
    with pytest.raises(ValueError, match="samples"):
        AlgorithmSpec("x", "", rlif.rewards, BY_SOURCE, ("replay",), rlif.agent)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_agent_keeps_the_agent_interface(name: str) -> None:
    config = task_config(algorithm=name, batch_size=8, hidden_dims=(16,), critic_ensemble=2)
    agent: Agent = Learner(config).agent
    state = copy.deepcopy(agent.checkpoint_state())  # the state dict's tensors are the live ones
    assert set(state) == {"agent", "optimizers", "generator"}
    arrays = agent.export_policy()
    agent.import_policy({key: np.zeros_like(value) for key, value in arrays.items()})
    assert all(not value.any() for value in agent.export_policy().values())
    agent.load_checkpoint_state(state)
    for key, value in agent.export_policy().items():
        np.testing.assert_array_equal(value, arrays[key])
