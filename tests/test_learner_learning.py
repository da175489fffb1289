"""Learning works: the agent learns the tiny image task of `learner_tasks` from interventions
alone (RLIF), and the imitation baselines learn it from expert data. Each test fails when an
update is broken: the untrained policy reaches the target in about 10 % of episodes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from learner.config import LearnerConfig
from learner.learner import Learner
from learner.policy import Policy
from tests.learner_tasks import evaluate, random_policy, relabel_with_expert, run_episode, task_config

UNTRAINED_SUCCESS = 0.3


def trained_policy(learner: Learner) -> Policy:
    return Policy(learner.config, learner.export_policy())


def test_untrained_policy_fails_the_task() -> None:
    assert evaluate(trained_policy(Learner(task_config())).act) <= UNTRAINED_SUCCESS


def interactive_rounds(learner: Learner, rounds: int, updates: int, *, operator: bool, seed: int = 0) -> list[float]:
    """Collect 5 episodes with the current (sampling) policy, then update; returns each round's
    intervention rate."""
    rng = np.random.default_rng(seed)
    policy = Policy(learner.config, seed=seed)
    rates = []
    for round_index in range(rounds):
        policy.load_arrays(learner.export_policy())
        intervened = []
        for episode in range(5):
            record = run_episode(
                lambda obs: policy.act(obs, deterministic=False),
                rng,
                operator=operator,
                episode_id=f"{round_index}-{episode}",
            )
            intervened.append(record.arrays["intervened"].mean())
            learner.add_episode(record)
        rates.append(float(np.mean(intervened)))
        for _ in range(updates):
            learner.update()
    return rates


@pytest.mark.slow
def test_rlif_learns_from_interventions_alone() -> None:
    """No reward but the operator's takeovers: SAC with the intervention labels learns to reach."""
    learner = Learner(task_config(algorithm="rlif"))
    rng = np.random.default_rng(1)
    for episode in range(10):
        learner.add_episode(run_episode(random_policy(rng), rng, operator=True, episode_id=f"random{episode}"))
    rates = interactive_rounds(learner, rounds=20, updates=50, operator=True)
    success = evaluate(trained_policy(learner).act)
    assert success >= 0.6, (success, rates)
    assert np.mean(rates[-5:]) < np.mean(rates[:5])


@pytest.mark.slow
def test_rlif_bc_term_makes_a_policy_of_the_demonstrations_before_any_takeover() -> None:
    """rlif's behaviour-cloning term on the demos buffer: with no takeover yet (every reward 0),
    SAC alone has nothing to learn from, SAC with the term learns the demonstrated task."""
    rng = np.random.default_rng(7)
    demos = [run_episode(None, rng, operator=False, episode_id=f"demo{episode}") for episode in range(30)]
    rollout = run_episode(random_policy(rng), rng, operator=False, episode_id="random")
    success = {}
    for bc_weight in (0.0, 1.0):
        learner = Learner(task_config(algorithm="rlif", bc_weight=bc_weight))
        for record in demos:
            learner.add_episode(record, prior=True)
        learner.add_episode(rollout)
        for _ in range(600):
            learner.update()
        success[bc_weight] = evaluate(trained_policy(learner).act)
    assert success[1.0] >= 0.6 and success[0.0] <= UNTRAINED_SUCCESS, success


@pytest.mark.slow
def test_behaviour_cloning_learns_from_demonstrations() -> None:
    learner = Learner(task_config(algorithm="bc"))
    rng = np.random.default_rng(2)
    for episode in range(30):
        learner.add_episode(run_episode(None, rng, operator=False, episode_id=f"demo{episode}"), prior=True)
    for _ in range(600):
        learner.update()
    assert evaluate(trained_policy(learner).act) >= 0.6


@pytest.mark.slow
def test_hg_dagger_learns_from_aggregated_operator_actions() -> None:
    learner = Learner(task_config(algorithm="hg_dagger"))
    rng = np.random.default_rng(3)
    learner.add_episode(run_episode(random_policy(rng), rng, operator=True, episode_id="random"))
    rates = interactive_rounds(learner, rounds=10, updates=60, operator=True, seed=3)
    assert evaluate(trained_policy(learner).act) >= 0.6, rates
    assert len(learner.buffers["intervention"]) > 0


@pytest.mark.slow
def test_dagger_learns_from_relabelled_states() -> None:
    config = task_config(algorithm="dagger")
    learner = Learner(config, relabel=relabel_with_expert)
    rng = np.random.default_rng(4)
    learner.add_episode(run_episode(random_policy(rng), rng, operator=False, episode_id="random"))
    interactive_rounds(learner, rounds=10, updates=60, operator=False, seed=4)
    assert evaluate(trained_policy(learner).act) >= 0.6
    # every visited state was stored with the expert's label, not the executed action
    online = learner.buffers["online"]
    for slot in online.valid_slots()[:20]:
        row = online.transition(int(slot))
        assert np.all(np.abs(row["action"]) <= 1.0)
    assert len(learner.buffers["intervention"]) == 0


def test_dagger_needs_labels() -> None:
    learner = Learner(task_config(algorithm="dagger"))
    record = run_episode(random_policy(np.random.default_rng(0)), np.random.default_rng(0), operator=False)
    with pytest.raises(ValueError, match="expert_action"):
        learner.add_episode(record)
    record.arrays["expert_action"] = relabel_with_expert(record)
    assert learner.add_episode(record) == len(record)
    np.testing.assert_array_equal(
        learner.buffers["online"].action[: len(record) + 1][learner.buffers["online"].valid_slots()],
        record.arrays["expert_action"],
    )


def test_rlpd_oracle_samples_both_buffers_half_and_half() -> None:
    learner = Learner(dataclasses.replace(task_config(algorithm="rlpd"), batch_size=64))
    rng = np.random.default_rng(5)
    learner.add_episode(run_episode(None, rng, operator=False), prior=True)
    assert [(b.name, n) for b, n in learner.batch_split()] == [("demos", 64)]
    learner.add_episode(run_episode(random_policy(rng), rng, operator=False))
    assert [(b.name, n) for b, n in learner.batch_split()] == [("online", 32), ("demos", 32)]
    metrics = learner.update()
    assert np.isfinite(metrics["loss/critic"])


def test_batches_share_out_online_operator_and_demonstration_rows() -> None:
    base = dataclasses.replace(
        task_config(algorithm="rlif"), batch_size=64, bc_weight=1.0, intervention_fraction=0.5, demo_fraction=0.25
    )

    def filled(config: LearnerConfig, with_demos: bool = True) -> Learner:
        learner = Learner(config)
        rng = np.random.default_rng(6)
        while not len(learner.buffers["online"]) or not len(learner.buffers["intervention"]):
            learner.add_episode(run_episode(random_policy(rng), rng, operator=True))  # policy and operator steps
        if with_demos:
            learner.add_episode(run_episode(None, rng, operator=False), prior=True)
        return learner

    no_demos = filled(base, with_demos=False)
    assert [(b.name, n) for b, n in no_demos.batch_split()] == [("online", 32), ("intervention", 32)]
    learner = filled(base)
    assert [(b.name, n) for b, n in learner.batch_split()] == [("online", 32), ("intervention", 24), ("demos", 8)]
    imitate = learner.sample().imitate
    assert imitate is not None
    assert imitate.tolist() == [False] * 56 + [True] * 8  # bc_rows="demos"
    imitate = filled(dataclasses.replace(base, bc_rows="both")).sample().imitate
    assert imitate is not None
    assert imitate.tolist() == [False] * 32 + [True] * 32
    hg_dagger = filled(dataclasses.replace(base, algorithm="hg_dagger"))
    assert [(b.name, n) for b, n in hg_dagger.batch_split()] == [("intervention", 48), ("demos", 16)]
