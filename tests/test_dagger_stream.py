"""DAgger in the streamed pair: the simulated operator labels every proposal with its expert's
action, the intervention wrapper records the label of the answer to each step, the step message
and the episode file carry it, and the learner service stores it (and refuses steps without one)."""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest

from actor.env import EnvConfig, RobotEnv
from actor.intervention import InterventionConfig
from learner.algorithms.dagger import recorded_expert_actions
from learner.ingest import UNLABELLED
from learner.learner import Learner
from learner.policy import POLICY_FILE, Policy, load_policy_file
from learner.service import LearnerService
from learner.service_config import LearnerServiceConfig
from teleop.publishers import CommandStreamer
from teleop.scripted_expert import ScriptedExpert
from teleop.sim_operator import SimulatedOperator
from tests.conftest import RunningServer, free_port
from tests.learner_tasks import (
    evaluate,
    expert_action,
    final_observation,
    random_policy,
    run_episode,
    step_of,
    task_config,
)
from tests.pair_harness import Pair, recorded_episodes, stored_transitions
from tests.test_intervention import PlannedModel, simulated_operator, streams, wrapped
from tests.test_learner_robustness import killed
from tests.test_stream_robustness import lines
from wire.codec import Message, SizeLimits, encode
from wire.operator import MessageError, OperatorCommand, Proposal, decode_command, encode_command
from wire.records import FORMAT_VERSION, EpisodeRecord, RecordError, StepRecord, save_npz_atomically
from wire.reliable_sender import ReliableSender, new_stream_id
from wire.transitions import StepShape, TransitionError, read_step, step_message

PLANNED = {2, 3, 7}
POLICY = np.array([0.2, -0.2, 0.1, 0.0, 0.0, 0.0, 1.0])

# ---------------------------------------------------------------------------- the operator's labels


def test_the_sim_operator_labels_every_answer_taking_over_or_not(lockstep_server: RunningServer) -> None:
    env = RobotEnv(EnvConfig(server=lockstep_server.address, images=False))
    try:
        _, info = env.reset(seed=3)
    finally:
        env.close()
    robot = info["robot"]
    operator = SimulatedOperator(ScriptedExpert("perfect"), PlannedModel(PLANNED))
    twin = ScriptedExpert("perfect")
    for step in range(5):
        proposal = Proposal(episode="e", step=step, state=np.zeros(3, np.float32), policy_action=POLICY, robot=robot)
        command = decode_command(encode_command(operator.answer(proposal)))
        assert command.active == (step in PLANNED)
        np.testing.assert_allclose(command.expert_action, twin.act(robot), atol=1e-6)


def test_a_command_label_is_all_nan_or_seven_values_in_range() -> None:
    assert np.isnan(decode_command(encode_command(OperatorCommand())).expert_action).all()
    header = msgspec.msgpack.decode(encode_command(OperatorCommand())[0])
    del header["v"], header["arrays"]
    from_older_sender = encode(header, {"twist": np.zeros(6, np.float32)})
    assert np.isnan(decode_command(from_older_sender).expert_action).all()
    for bad in (np.r_[np.nan, np.zeros(6)], np.full(7, 2.0), np.zeros(6), np.r_[np.inf, np.zeros(6)]):
        with pytest.raises(MessageError, match="expert_action"):
            decode_command(encode_command(OperatorCommand(expert_action=bad.astype(np.float32))))


# ---------------------------------------------------------------------------- the wrapper records them


def test_the_wrapper_records_the_label_of_the_answer_to_each_step(lockstep_server: RunningServer, tmp_path) -> None:
    commands, proposals = streams()
    operator = SimulatedOperator(ScriptedExpert("perfect"), PlannedModel(PLANNED))
    env = wrapped(lockstep_server, InterventionConfig(commands=commands, proposals=proposals))
    assert env.sync == "answer"
    try:
        with simulated_operator(operator, commands, proposals):
            _, info = env.reset(seed=3)
            expert = ScriptedExpert("perfect")
            expected = []
            done = False
            while not done:
                expected.append(expert.act(info["robot"]))
                _, _, terminated, truncated, info = env.step(POLICY)
                done = terminated or truncated
                np.testing.assert_allclose(info["step_record"].expert_action, expected[-1], atol=1e-6)
    finally:
        env.close()
    episode: EpisodeRecord = info["episode_record"]
    labels = episode.arrays["expert_action"]
    np.testing.assert_allclose(labels, np.array(expected), atol=1e-6)
    policy_steps = ~episode.arrays["intervened"]
    assert policy_steps.any() and not np.allclose(labels[policy_steps], episode.arrays["action"][policy_steps])
    loaded = EpisodeRecord.load(episode.save(tmp_path / "e.npz"))
    np.testing.assert_array_equal(loaded.arrays["expert_action"], labels)
    np.testing.assert_array_equal(recorded_expert_actions(loaded), labels)


def test_without_an_answer_to_the_step_there_is_no_label(lockstep_server: RunningServer) -> None:
    commands, _ = streams()
    env = wrapped(lockstep_server, InterventionConfig(commands=commands, proposals=None, sync="latest"))
    subscriber = env.commands
    assert subscriber is not None
    streamer = CommandStreamer(commands, rate=200.0).start()
    try:
        env.reset(seed=1)
        streamer.update(OperatorCommand(active=True, expert_action=np.full(7, 0.5, np.float32), source="scripted"))
        assert subscriber.wait_newer(None, 5.0) is not None
        _, _, _, _, info = env.step(POLICY)
        assert info["step_record"].intervened and np.isnan(info["step_record"].expert_action).all()
    finally:
        streamer.stop()
        env.close()
    commands, proposals = streams()
    intervention = InterventionConfig(commands=commands, proposals=proposals, answer_timeout=0.1)
    env = wrapped(lockstep_server, intervention)
    try:
        env.reset(seed=0)
        _, _, _, _, info = env.step(POLICY)
        assert env.sync_timeouts == 1 and np.isnan(info["step_record"].expert_action).all()
    finally:
        env.close()


# ---------------------------------------------------------------------------- the wire and the files


def labelled_steps(record: EpisodeRecord) -> list[StepRecord]:
    """The episode's steps of the tiny task, each with the expert's label of its state."""
    states, targets = record.arrays["obs_state"], record.arrays["target"]
    return [
        dataclasses.replace(step_of(record, t), expert_action=expert_action(states[t], targets[t]))
        for t in range(len(record))
    ]


def _record(seed: int = 0, episode_id: str = "e") -> EpisodeRecord:
    rng = np.random.default_rng(seed)
    return run_episode(random_policy(rng), rng, operator=False, episode_id=episode_id)


SHAPE = StepShape(("front",), (32, 32), 2, 2)


def test_a_step_message_carries_the_label_and_an_old_one_has_none() -> None:
    record = _record()
    step = labelled_steps(record)[0]
    data, arrays = step_message("a", "e", 0, step, None)
    np.testing.assert_array_equal(
        read_step(Message({"data": data}, arrays), SHAPE).record.expert_action, step.expert_action
    )
    del arrays["expert_action"]
    old = read_step(Message({"data": data}, arrays), SHAPE).record.expert_action
    assert old.shape == (2,) and np.isnan(old).all()
    arrays["expert_action"] = np.array([0.5, np.nan], np.float32)
    with pytest.raises(TransitionError, match="expert_action"):
        read_step(Message({"data": data}, arrays), SHAPE)


def test_the_size_limits_admit_the_largest_step_and_no_more() -> None:
    record = _record()
    images = {camera: record.arrays["obs_front"][0] for camera in ("front", "spare1", "spare2")}
    step = dataclasses.replace(labelled_steps(record)[0], images=images)
    data, arrays = step_message("a", "e", 0, step, {"state": record.arrays["obs_state"][1], "images": images})
    limits = SHAPE.limits()
    assert len(limits.decode(encode({"data": data}, arrays)).arrays) == len(arrays)
    crowded = SizeLimits(max_arrays=limits.max_arrays, max_array_bytes=limits.max_array_bytes, max_total_bytes=10**9)
    with pytest.raises(Exception, match="at most"):
        crowded.decode(encode({"data": data}, {**arrays, "one/more": np.zeros(2, np.float32)}))


def test_an_episode_file_of_format_1_loads_with_no_labels(tmp_path: Path) -> None:
    record = _record()
    assert record.meta["format_version"] == FORMAT_VERSION == 2
    assert np.isnan(record.arrays["expert_action"]).all() and record.arrays["expert_action"].shape == (len(record), 2)
    arrays = {key: value for key, value in record.arrays.items() if key != "expert_action"}
    meta = {**record.meta, "format_version": 1}
    save_npz_atomically(tmp_path / "old.npz", {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    loaded = EpisodeRecord.load(tmp_path / "old.npz")
    assert loaded.meta["format_version"] == FORMAT_VERSION
    assert loaded.arrays["expert_action"].shape == (len(record), 2) and np.isnan(loaded.arrays["expert_action"]).all()
    with pytest.raises(RecordError, match="has no label"):
        recorded_expert_actions(loaded)
    meta = {**record.meta, "format_version": 3}
    save_npz_atomically(tmp_path / "new.npz", {**arrays, "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(RecordError, match="format version 3"):
        EpisodeRecord.load(tmp_path / "new.npz")


def test_dagger_refuses_an_episode_with_unlabelled_steps() -> None:
    record = _record()
    steps = labelled_steps(record)
    steps[1] = dataclasses.replace(steps[1], expert_action=np.full(2, np.nan, np.float32))
    episode = EpisodeRecord.from_steps(
        steps, record.arrays["obs_state"][-1], {"front": record.arrays["obs_front"][-1]}, episode_id="e", actor_id="a"
    )
    learner = Learner(task_config(algorithm="dagger"))
    try:
        with pytest.raises(RecordError, match=r"no label at 1 of \d+ steps .*hg_dagger"):
            learner.add_episode(episode)
        episode.arrays["expert_action"][1, 0] = 0.5
        with pytest.raises(RecordError, match="finite or all NaN"):
            episode.validate()
    finally:
        learner.close()


# ---------------------------------------------------------------------------- the learner service


SMALL: dict[str, object] = {"batch_size": 16, "hidden_dims": (16, 16), "min_transitions": 10**6}
"""A learner that never updates: for the tests of what it stores."""


def service_config(run_dir: Path, algorithm: str = "dagger", *, small: bool = False) -> LearnerServiceConfig:
    return LearnerServiceConfig(
        learner=task_config(algorithm=algorithm, threads=1, **(SMALL if small else {})),
        run_dir=run_dir,
        transitions=f"tcp://127.0.0.1:{free_port()}",
        weights=f"tcp://127.0.0.1:{free_port()}",
        status=f"tcp://127.0.0.1:{free_port()}",
    )


@pytest.fixture
def dagger_service(tmp_path: Path) -> Iterator[LearnerService]:
    service = LearnerService(service_config(tmp_path / "run", small=True))
    yield service
    killed(service)


@pytest.fixture
def sender(dagger_service: LearnerService) -> Iterator[ReliableSender]:
    stream = ReliableSender(dagger_service.config.transitions, new_stream_id("actor"))
    yield stream
    stream.close()


def stream_episode(sender: ReliableSender, record: EpisodeRecord, steps: list[StepRecord]) -> None:
    episode_id = str(record.meta["episode_id"])
    for t, step in enumerate(steps):
        final = final_observation(record) if t == len(steps) - 1 else None
        sender.send(*step_message("actor", episode_id, t, step, final))


def deliver(service: LearnerService, sender: ReliableSender, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sender.poll(0.0) and time.monotonic() < deadline:
        service.receiver.poll(0.01)
    assert sender.pending == 0, "the learner never acknowledged everything"


def stored(service: LearnerService, *names: str) -> dict[bytes, np.ndarray]:
    """The action stored with each state of the service's buffers `names`."""
    buffers = service.learner.buffers
    return {
        buffers[name].state[slot].tobytes(): buffers[name].action[slot].copy()
        for name in names
        for slot in buffers[name].valid_slots()
    }


def actions_by_state(steps: list[StepRecord], field: str) -> dict[bytes, np.ndarray]:
    return {np.asarray(step.state, np.float32).tobytes(): getattr(step, field) for step in steps}


def test_the_service_stores_the_streamed_labels_not_the_executed_actions(
    dagger_service: LearnerService, sender: ReliableSender
) -> None:
    record = run_episode(random_policy(np.random.default_rng(1)), np.random.default_rng(1), operator=True)
    assert record.arrays["intervened"].any() and not record.arrays["intervened"].all()
    steps = labelled_steps(record)
    stream_episode(sender, record, steps)
    deliver(dagger_service, sender)
    assert dagger_service.rejected == 0 and dagger_service.learner.env_steps == len(record)
    online, labels = stored(dagger_service, "online"), actions_by_state(steps, "expert_action")
    assert online.keys() == labels.keys()
    for state, label in labels.items():
        np.testing.assert_allclose(online[state], label)
    executed = actions_by_state(steps, "action")
    assert not all(np.allclose(online[state], executed[state]) for state in online)
    assert len(dagger_service.learner.buffers["intervention"]) == 0


def test_the_service_refuses_unlabelled_steps_with_one_clear_line(
    dagger_service: LearnerService, sender: ReliableSender, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for index in range(4):  # a person operating: the steps carry no labels
            record = _record(seed=index, episode_id=f"person{index}")
            stream_episode(sender, record, [step_of(record, t) for t in range(len(record))])
        deliver(dagger_service, sender)
    refused = dagger_service.rejected
    assert refused > 4 and dagger_service.figures()["rejected"] == refused
    assert dagger_service.learner.env_steps == 0 and dagger_service.wal.bytes == 0
    written = lines(caplog, "learner.service")
    assert len(written) == 1 and UNLABELLED in written[0], written
    record = _record(seed=9, episode_id="expert")
    stream_episode(sender, record, labelled_steps(record))
    deliver(dagger_service, sender)
    assert dagger_service.rejected == refused and dagger_service.learner.env_steps == len(record)


def test_other_algorithms_ignore_the_labels(tmp_path: Path) -> None:
    service = LearnerService(service_config(tmp_path / "run", "hg_dagger", small=True))
    sender = ReliableSender(service.config.transitions, new_stream_id("actor"))
    try:
        record = run_episode(random_policy(np.random.default_rng(1)), np.random.default_rng(1), operator=True)
        steps = labelled_steps(record)
        stream_episode(sender, record, steps)
        deliver(service, sender)
        assert service.rejected == 0 and service.learner.env_steps == len(record)
        executed, kept = actions_by_state(steps, "action"), stored(service, "online", "intervention")
        assert kept.keys() == executed.keys()
        for state, action in executed.items():
            np.testing.assert_allclose(kept[state], action)
    finally:
        sender.close()
        killed(service)


def test_streamed_dagger_stores_the_experts_labels_and_learns_the_tiny_task(tmp_path: Path) -> None:
    service = LearnerService(service_config(tmp_path / "run"))
    sender = ReliableSender(service.config.transitions, new_stream_id("actor"))
    rng = np.random.default_rng(4)
    policy = Policy(service.config.learner, seed=4)
    labels: dict[bytes, np.ndarray] = {}

    def stream(record: EpisodeRecord) -> None:
        steps = labelled_steps(record)
        labels.update(actions_by_state(steps, "expert_action"))
        stream_episode(sender, record, steps)

    try:
        stream(run_episode(random_policy(rng), rng, operator=False, episode_id="random"))
        for round_index in range(10):
            deliver(service, sender)
            for _ in range(60):
                service.learner.update()
            policy.load_arrays(service.learner.export_policy())
            for episode in range(5):
                act = lambda obs: policy.act(obs, deterministic=False)  # noqa: E731
                stream(run_episode(act, rng, operator=False, episode_id=f"{round_index}-{episode}"))
        deliver(service, sender)
        assert service.rejected == 0 and len(service.learner.buffers["intervention"]) == 0
        online = stored(service, "online")
        assert service.learner.buffers["online"].valid_slots().size == service.learner.env_steps > 100
        assert online.keys() <= labels.keys()
        assert all(np.allclose(action, labels[state]) for state, action in online.items())
        service.checkpoint()
        success = evaluate(load_policy_file(service.config.run_dir / POLICY_FILE).act)
        assert success >= 0.6, success
    finally:
        sender.close()
        killed(service)


@pytest.mark.slow
def test_a_dagger_pair_streams_stores_and_learns_from_the_sim_operators_labels(tmp_path: Path) -> None:
    """`rlif sim --learner.algorithm dagger` in small: learner, simulated operator and actor as
    processes; every step arrives with the expert's label and is stored with it."""
    pair = Pair(tmp_path, episodes=3, episode_steps=15)
    learner = dataclasses.replace(pair.learner_config.learner, algorithm="dagger")
    pair.learner_config = dataclasses.replace(pair.learner_config, learner=learner)
    pair.start()
    try:
        assert pair.wait_actor_done(timeout=240) == 0, pair.log("actor")
        assert pair.wait_for(lambda s: s.get("learner", {}).get("env_steps", 0) >= 3 * 15, timeout=30)
        assert pair.latest["learner"]["rejected"] == 0 and pair.latest["learner"]["updates"] > 0
    finally:
        codes = pair.stop()
    assert codes.get("learner") == 0, pair.log("learner")
    episodes = recorded_episodes(tmp_path / "episodes")
    labels = np.concatenate([episode.arrays["expert_action"] for episode in episodes])
    executed = np.concatenate([episode.arrays["action"] for episode in episodes])
    assert len(episodes) == 3 and np.isfinite(labels).all() and not np.allclose(labels, executed)
    expected = [
        (episode.arrays["obs_state"][t].tobytes(), episode.arrays["expert_action"][t].tobytes(), 0.0, False)
        for episode in episodes
        for t in range(len(episode))
    ]
    assert collections.Counter(stored_transitions(pair.learner_config.run_dir, learner)) == collections.Counter(
        expected
    )
    assert "Traceback" not in pair.log("learner") + pair.log("actor") + pair.log("operator")
