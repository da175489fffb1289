"""RLIF reward labels: every edge case of the definition, for whole episodes and streamed steps."""

from __future__ import annotations

import numpy as np
import pytest

from learner.algorithms import reward_rule
from learner.config import Algorithm, LearnerConfig
from learner.episodes import StepAssembler, record_transitions
from learner.learner import Learner
from wire.records import EpisodeRecord, StepRecord, onsets

RLIF = reward_rule(LearnerConfig(algorithm="rlif"))


def episode(intervened: list[bool], *, end: str = "truncated", success_at: int | None = None) -> EpisodeRecord:
    """A state-only episode whose state is the step index, so transitions can be told apart."""
    flags = onsets(intervened)
    steps = len(intervened)
    records = [
        StepRecord(
            state=np.array([t], np.float32),
            images={},
            policy_action=np.zeros(1, np.float32),
            action=np.array([t / 10], np.float32),
            intervened=intervened[t],
            intervention_onset=bool(flags[t]),
            source="human" if intervened[t] else "policy",
            terminated=end == "terminated" and t == steps - 1,
            truncated=end == "truncated" and t == steps - 1,
            success=success_at is not None and t >= success_at,
        )
        for t in range(steps)
    ]
    return EpisodeRecord.from_steps(records, np.array([steps], np.float32), {}, episode_id="e", actor_id="a")


def rewards_of(intervened: list[bool], *, end: str = "truncated", success_at: int | None = None) -> list[float]:
    record = episode(intervened, end=end, success_at=success_at)
    transitions, _ = record_transitions(record, RLIF)
    return [t.reward for t in transitions]


P, H = False, True  # a policy step, an operator (human) step


def test_policy_step_before_each_takeover_gets_minus_one() -> None:
    assert rewards_of([P, P, H, H, P, P]) == [0, -1, 0, 0, 0, 0]


def test_takeover_at_the_first_step_labels_nothing() -> None:
    assert rewards_of([H, H, P, P]) == [0, 0, 0, 0]
    assert rewards_of([H]) == [0]


def test_back_to_back_takeovers_each_label_their_policy_step() -> None:
    assert rewards_of([P, H, P, H, P, H]) == [-1, 0, -1, 0, -1, 0]
    # a takeover right after the operator handed back: the single policy step between is penalised
    assert rewards_of([H, P, H, H]) == [0, -1, 0, 0]


def test_takeover_running_to_the_end_labels_only_the_step_before_it() -> None:
    assert rewards_of([P, P, P, H, H, H]) == [0, 0, -1, 0, 0, 0]


def test_operator_transitions_are_kept_with_reward_zero() -> None:
    record = episode([P, H, H, P])
    transitions, _ = record_transitions(record, RLIF)
    assert [t.intervened for t in transitions] == [False, True, True, False]
    assert [t.reward for t in transitions if t.intervened] == [0.0, 0.0]


def test_truncation_is_not_termination() -> None:
    truncated, _ = record_transitions(episode([P, P, P], end="truncated"), RLIF)
    terminated, _ = record_transitions(episode([P, P, P], end="terminated"), RLIF)
    assert [t.terminated for t in truncated] == [False, False, False]
    assert [t.terminated for t in terminated] == [False, False, True]
    assert truncated[-1].episode_ends and terminated[-1].episode_ends


def test_transitions_pair_each_observation_with_the_next() -> None:
    transitions, _ = record_transitions(episode([P, H, P]), RLIF)
    assert [(float(t.observation[0][0]), float(t.next_observation[0][0])) for t in transitions] == [
        (0, 1),
        (1, 2),
        (2, 3),
    ]
    assert [float(t.action[0]) for t in transitions] == pytest.approx([0.0, 0.1, 0.2])


def test_task_reward_is_off_by_default_and_added_once_when_configured() -> None:
    intervened = [P, P, H, P, P]
    assert rewards_of(intervened, success_at=3, end="terminated") == [0, -1, 0, 0, 0]
    with_task = reward_rule(LearnerConfig(algorithm="rlif", task_reward=True))
    transitions, _ = record_transitions(episode(intervened, success_at=3, end="terminated"), with_task)
    assert [t.reward for t in transitions] == [0, -1, 0, 1, 0]


def test_rlpd_oracle_uses_the_task_reward_alone() -> None:
    rule = reward_rule(LearnerConfig(algorithm="rlpd"))
    transitions, _ = record_transitions(episode([P, H, P, P], success_at=3, end="terminated"), rule)
    assert [t.reward for t in transitions] == [0, 0, 0, 1]


def test_behaviour_cloning_ignores_rewards() -> None:
    for algorithm in ("hg_dagger", "dagger", "bc"):
        rule = reward_rule(LearnerConfig(algorithm=algorithm))
        assert rule.episode_rewards(np.array([False, True]), np.array([0, 1])).tolist() == [0, 0]


def test_penalty_is_configurable() -> None:
    rule = reward_rule(LearnerConfig(algorithm="rlif", intervention_penalty=-5.0))
    assert rule.episode_rewards(np.array([False, True])).tolist() == [-5, 0]


@pytest.mark.parametrize(
    "intervened",
    [[P, P, H, H, P, P], [H, H, P, P], [P, H, P, H, P, H], [P, P, P, H, H, H], [H], [P]],
)
@pytest.mark.parametrize("end", ["truncated", "terminated"])
def test_streamed_steps_are_labelled_like_the_recorded_episode(intervened: list[bool], end: str) -> None:
    record = episode(intervened, end=end, success_at=len(intervened) - 1)
    cases: tuple[tuple[Algorithm, bool], ...] = (("rlif", False), ("rlif", True), ("rlpd", False))
    for algorithm, task in cases:
        rule = reward_rule(LearnerConfig(algorithm=algorithm, task_reward=task))
        expected, expected_summary = record_transitions(record, rule)
        assembler = StepAssembler(rule)
        streamed = []
        summary = None
        arrays = record.arrays
        for t in range(len(record)):
            last = t == len(record) - 1
            completed, summary = assembler.push(
                ("a", "e"),
                t,
                (arrays["obs_state"][t], {}),
                arrays["action"][t],
                intervened=bool(arrays["intervened"][t]),
                intervention_onset=bool(arrays["intervention_onset"][t]),
                terminated=bool(arrays["terminated"][t]),
                truncated=bool(arrays["truncated"][t]),
                success=int(arrays["success"][t]),
                next_observation=(arrays["obs_state"][t + 1], {}) if last else None,
            )
            streamed += completed
        assert [(t.step, t.reward, t.terminated, t.episode_ends, t.intervened) for t in streamed] == [
            (t.step, t.reward, t.terminated, t.episode_ends, t.intervened) for t in expected
        ]
        assert summary == expected_summary
        assert not list(assembler)


def test_learner_routes_policy_and_operator_transitions() -> None:
    config = LearnerConfig(algorithm="rlif", cameras=(), state_dim=1, action_dim=1, capacity=64)
    learner = Learner(config)
    learner.add_episode(episode([P, P, H, H, P]))
    online, intervention = learner.buffers["online"], learner.buffers["intervention"]
    online_rewards = sorted(online.transition(int(s))["reward"] for s in online.valid_slots())
    assert online_rewards == [-1.0, 0.0, 0.0]
    assert len(intervention) == 2
    assert all(intervention.transition(int(s))["reward"] == 0.0 for s in intervention.valid_slots())
    learner.add_episode(episode([H, H, H]), prior=True)
    assert len(intervention) == 2 and len(learner.buffers["demos"]) == 3 and learner.env_steps == 5
