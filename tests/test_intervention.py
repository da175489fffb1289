"""The takeover rules (property tests) and the intervention wrapper over the simulated arm."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actor.env import EnvConfig, RobotEnv
from actor.intervention import NO_POLICY, InterventionConfig, InterventionWrapper
from actor.takeover import TakeoverTracker
from teleop.publishers import CommandPublisher, CommandStreamer
from teleop.scripted_expert import ScriptedExpert
from teleop.sim_operator import SimulatedOperator, run_operator
from teleop.stream import ProposalSubscriber
from tests.conftest import RunningServer, free_port
from wire.operator import LATEST, MARK_SUCCESS, OperatorCommand
from wire.records import SOURCES, EpisodeRecord, onsets

# ---------------------------------------------------------------------------- the rules


@dataclass
class Tick:
    dt: float
    kind: str  # none | idle | active | toggle | disconnected
    policy: bool
    answered: bool


ticks = st.builds(
    Tick,
    dt=st.floats(0.0, 0.4),
    kind=st.sampled_from(["none", "idle", "active", "toggle", "disconnected"]),
    policy=st.booleans(),
    answered=st.booleans(),
)
episodes = st.lists(st.lists(ticks, min_size=1, max_size=25), min_size=1, max_size=4)


def tick_command(tick: Tick, index: int, toggles: int) -> OperatorCommand | None:
    if tick.kind == "none":
        return None
    twist = np.full(6, 0.1 * (index % 7) - 0.3, np.float32) if tick.kind == "active" else np.zeros(6, np.float32)
    return OperatorCommand(
        twist=twist,
        active=tick.kind == "active",
        gripper_toggles=toggles,
        connected=tick.kind != "disconnected",
        source="human" if not tick.answered else "scripted",
        step=index if tick.answered else LATEST,
        sender="op",
    )


@settings(max_examples=300, deadline=None)
@given(episodes, st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_takeover_rules_and_the_onset_definition(run: list[list[Tick]], hold_time: float) -> None:
    tracker = TakeoverTracker(hold_time)
    tracker.decide(0.0, None, OperatorCommand(sender="op"))  # the operator's counters, first seen
    now, toggles = 0.0, 0
    for episode in run:
        tracker.reset()
        intervened, onset_flags = [], []
        previous, last_input, gripper = False, -np.inf, 1.0
        for index, tick in enumerate(episode):
            now += tick.dt
            toggled = tick.kind == "toggle"
            toggles += toggled
            command = tick_command(tick, index, toggles)
            policy = np.full(7, 0.5) if tick.policy else None
            decision = tracker.decide(now, policy, command)

            # The rules, restated.
            acting = live = False
            if command is not None and command.connected:  # present
                acting = command.active or toggled
                live = not tick.answered
            if acting and live:
                last_input = now
            holding = live and not acting and previous and now < last_input + hold_time
            expected = bool(acting or holding)
            assert decision.intervened == expected
            if not expected:
                last_input = -np.inf
            if toggled and expected:
                gripper = -1.0 if gripper >= 0 else 1.0
            if expected:
                assert command is not None  # acting or holding: an operator is present
                assert decision.source == command.source
                motion = np.zeros(6) if holding else command.twist
                assert decision.action[:6] == pytest.approx(motion)
                assert decision.action[6] == gripper
            elif policy is not None:
                assert decision.source == "policy" and np.array_equal(decision.action, policy)
            else:  # no policy, no operator: hold still
                assert np.array_equal(decision.action, np.r_[np.zeros(6), gripper])
            gripper = float(decision.action[6])
            previous = expected
            intervened.append(decision.intervened)
            onset_flags.append(decision.onset)
        # The rule, restated: a takeover's first step is an onset (the episode's first step included).
        assert onset_flags == [now and not (t > 0 and intervened[t - 1]) for t, now in enumerate(intervened)]
        assert onset_flags == onsets(intervened).tolist()
        assert onset_flags[0] == intervened[0], "a takeover at an episode's first step is an onset"


def test_onset_cases() -> None:
    tracker = TakeoverTracker(hold_time=0.0)
    active = OperatorCommand(active=True, sender="op")
    idle = OperatorCommand(active=False, sender="op")
    flags = [tracker.decide(float(t), np.zeros(7), c) for t, c in enumerate([active, active, idle, active, active])]
    assert [d.onset for d in flags] == [True, False, False, True, False]  # step 0, back-to-back segments
    tracker.reset()  # the segment ran into the episode's end; the next episode starts with a takeover
    assert tracker.decide(10.0, np.zeros(7), active).onset


def test_hold_time_keeps_a_live_operator_in_control_then_releases() -> None:
    tracker = TakeoverTracker(hold_time=0.5)
    active = OperatorCommand(twist=np.full(6, 0.5, np.float32), active=True, gripper_toggles=0, sender="op")
    idle = OperatorCommand(active=False, sender="op")
    assert tracker.decide(0.0, np.ones(7), active).intervened
    held = tracker.decide(0.3, np.ones(7), idle)
    assert held.intervened and not held.onset and np.all(held.action[:6] == 0)
    released = tracker.decide(0.6, np.ones(7), idle)
    assert not released.intervened and np.all(released.action == 1)
    assert tracker.decide(0.7, np.ones(7), active).onset
    assert not tracker.decide(0.8, np.ones(7), None).intervened, "silence ends a hold at once"


# ---------------------------------------------------------------------------- the wrapper


class PlannedModel:
    """Takes over at the listed steps of every episode."""

    def __init__(self, steps: set[int]) -> None:
        self.steps = steps
        self.step = 0

    def reset(self) -> None:
        self.step = 0

    def decide(self, state: dict, policy_action: np.ndarray | None, expert_action: np.ndarray) -> bool:
        self.step += 1
        return self.step - 1 in self.steps


@contextmanager
def simulated_operator(operator: SimulatedOperator, commands: str, proposals: str) -> Iterator[None]:
    stop = threading.Event()
    subscriber, publisher = ProposalSubscriber(proposals), CommandPublisher(commands)
    thread = threading.Thread(target=run_operator, args=(operator, subscriber, publisher, stop), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5.0)
        subscriber.close()
        publisher.close()


def streams() -> tuple[str, str]:
    return f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"


def wrapped(server: RunningServer, intervention: InterventionConfig, images: bool = False) -> InterventionWrapper:
    env = RobotEnv(EnvConfig(server=server.address, images=images, max_episode_steps=12))
    return InterventionWrapper(env, intervention)


def test_wrapper_records_a_simulated_operators_takeovers_step_by_step(lockstep_server, tmp_path) -> None:
    commands, proposals = streams()
    planned = {0, 1, 4, 5, 6, 10, 11}  # first step, back-to-back segments, one running into the end
    operator = SimulatedOperator(ScriptedExpert("perfect"), PlannedModel(planned))
    env = wrapped(lockstep_server, InterventionConfig(commands=commands, proposals=proposals), images=True)
    assert env.sync == "answer"
    policy = np.array([0.2, -0.2, 0.1, 0.0, 0.0, 0.0, 1.0])
    try:
        with simulated_operator(operator, commands, proposals):
            for _ in range(2):
                _, info = env.reset(seed=3)
                expert = ScriptedExpert("perfect")
                executed = []
                done = False
                while not done:
                    expected_expert = expert.act(info["robot"])
                    _, _, terminated, truncated, info = env.step(policy)
                    done = terminated or truncated
                    record = info["step_record"]
                    executed.append(record.action)
                    takeover = env.step_index - 1 in planned
                    assert record.intervened == takeover
                    assert np.allclose(record.action, expected_expert if takeover else policy)
                    assert np.allclose(record.policy_action, policy)
                    assert record.source == ("scripted" if takeover else "policy")
                episode: EpisodeRecord = info["episode_record"]
                assert truncated and len(episode) == 12
                flags = episode.arrays["intervened"]
                assert np.flatnonzero(flags).tolist() == sorted(planned)
                assert np.flatnonzero(episode.arrays["intervention_onset"]).tolist() == [0, 4, 10]
                assert [SOURCES[i] for i in episode.arrays["source"][[0, 2]]] == ["scripted", "policy"]
                assert episode.arrays["obs_front"].shape == (13, 128, 128, 3)
                assert np.all(np.diff(episode.arrays["stamp"]) > 0)
                loaded = EpisodeRecord.load(episode.save(tmp_path / f"{env.episode_id}.npz"))
                assert np.array_equal(loaded.arrays["intervention_onset"], episode.arrays["intervention_onset"])
                assert np.allclose(loaded.arrays["action"], np.array(executed))
        assert env.sync_timeouts == 0 and env.interventions == 6
    finally:
        env.close()


def test_a_person_takes_over_through_the_stream_and_silence_hands_back(lockstep_server) -> None:
    commands, _ = streams()
    intervention = InterventionConfig(
        commands=commands, proposals=None, sync="latest", hold_time=30.0, stream_timeout=0.3
    )
    env = wrapped(lockstep_server, intervention)
    subscriber = env.commands
    assert subscriber is not None
    streamer = CommandStreamer(commands, rate=200.0).start()
    policy = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    try:
        env.reset(seed=1)
        push = OperatorCommand(twist=np.array([0.5, 0, 0, 0, 0, 0], np.float32), active=True, stamp=time.monotonic())
        streamer.update(push)
        assert subscriber.wait_newer(None, 5.0) is not None
        _, _, _, _, info = env.step(policy)
        record = info["step_record"]
        assert record.intervened and record.intervention_onset and record.source == "human"
        assert record.action[:6] == pytest.approx([0.5, 0, 0, 0, 0, 0]) and record.action[6] == 1.0

        streamer.update(OperatorCommand(active=False, stamp=time.monotonic()))
        _wait_until(lambda: (received := subscriber.latest()) is not None and not received.command.active)
        _, _, _, _, info = env.step(policy)
        held = info["step_record"]
        assert held.intervened and not held.intervention_onset and np.all(held.action[:6] == 0)  # the hold

        streamer.stop()
        _wait_until(lambda: subscriber.latest() is None)
        _, _, _, _, info = env.step(policy)
        assert not info["step_record"].intervened and info["step_record"].source == "policy"
    finally:
        streamer.stop()
        env.close()


def test_a_mark_ends_the_episode_with_the_operators_verdict(lockstep_server) -> None:
    commands, _ = streams()
    env = wrapped(lockstep_server, InterventionConfig(commands=commands, proposals=None, sync="latest", hold_time=0.0))
    subscriber = env.commands
    assert subscriber is not None
    streamer = CommandStreamer(commands, rate=200.0).start()
    try:
        env.reset(seed=2)
        streamer.update(OperatorCommand(source="keyboard"))
        assert subscriber.wait_newer(None, 5.0) is not None
        _, _, terminated, _, _ = env.step(NO_POLICY)
        assert not terminated
        streamer.update(OperatorCommand(source="keyboard", mark=MARK_SUCCESS, mark_seq=1))
        _wait_until(lambda: (received := subscriber.latest()) is not None and received.command.mark_seq == 1)
        _, _, terminated, truncated, info = env.step(NO_POLICY)
        assert terminated and not truncated and not info["success"]  # the sim's oracle disagrees
        episode = info["episode_record"]
        assert episode.arrays["success"].tolist() == [0, 1]
        assert np.isnan(episode.arrays["policy_action"]).all() and not episode.arrays["intervened"].any()
    finally:
        streamer.stop()
        env.close()


def test_no_answer_counts_a_timeout_and_runs_the_policy(lockstep_server) -> None:
    commands, proposals = streams()
    intervention = InterventionConfig(
        commands=commands, proposals=proposals, answer_timeout=0.1, republish_interval=0.02
    )
    env = wrapped(lockstep_server, intervention)
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(np.zeros(7))
        assert env.sync_timeouts == 1 and not info["step_record"].intervened
    finally:
        env.close()


def test_bad_policy_actions_never_move_the_arm(lockstep_server) -> None:
    commands, _ = streams()
    env = wrapped(lockstep_server, InterventionConfig(commands=commands, proposals=None, sync="latest"))
    robot = env.unwrapped
    assert isinstance(robot, RobotEnv)
    try:
        env.reset(seed=0)
        before = robot.client.state()["tcp_pos"]
        for bad in ([np.nan, 0, 0, 0, 0, 0, 0], [np.inf, 0, 0, 0, 0, 0, 0], [0.0] * 6):
            with pytest.raises(ValueError):
                env.step(np.array(bad))
        assert robot.client.state()["tcp_pos"] == pytest.approx(before)
        assert env.step_index == 0
    finally:
        env.close()


def test_binding_the_proposal_stream_off_loopback_needs_keys(lockstep_server) -> None:
    commands, _ = streams()
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False))
    try:
        with pytest.raises(ValueError, match="off loopback"):
            InterventionWrapper(env, InterventionConfig(commands=commands, proposals=f"tcp://0.0.0.0:{free_port()}"))
    finally:
        env.close()


def _wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except AttributeError:  # latest() was None
            pass
        time.sleep(0.01)
    raise AssertionError("condition not reached")
