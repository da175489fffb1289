"""The Learner's API for the actor side: streamed steps from several actors, duplicates, gaps,
bad input; metrics (TensorBoard + CSV), `rlif plot`, `rlif train`."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest

from learner.config import LearnerConfig
from learner.learner import Learner, NotReady
from learner.policy import POLICY_CONFIG_KEY, load_policy_file
from learner.replay import ReplayBuffer
from rlif.cli import main as rlif_main
from tests.learner_tasks import final_observation, random_policy, run_episode, step_of, task_config
from wire.records import EpisodeRecord, RecordError, StepRecord


def transitions_of(buffer: ReplayBuffer) -> list[tuple]:
    rows = []
    for slot in buffer.valid_slots():
        row = buffer.transition(int(slot))
        rows.append(
            (
                row["state"].tobytes(),
                row["images"]["front"].tobytes(),
                row["action"].tobytes(),
                row["reward"],
                row["terminated"],
                row["next_state"].tobytes(),
                row["next_images"]["front"].tobytes(),
            )
        )
    return sorted(rows)


def episodes(count: int, seed: int = 0) -> list[EpisodeRecord]:
    rng = np.random.default_rng(seed)
    return [run_episode(random_policy(rng), rng, operator=True, episode_id=f"e{i}") for i in range(count)]


def test_streamed_steps_from_interleaved_actors_store_what_whole_episodes_store() -> None:
    records = episodes(6)
    whole = Learner(task_config())
    for record in records:
        whole.add_episode(record)
    streamed = Learner(task_config())
    cursors = [0] * len(records)
    rng = np.random.default_rng(1)
    while any(c < len(r) for c, r in zip(cursors, records, strict=True)):
        index = int(rng.choice([i for i, r in enumerate(records) if cursors[i] < len(r)]))
        record, t = records[index], cursors[index]
        last = t == len(record) - 1
        streamed.add_step(
            f"actor{index % 3}",
            record.meta["episode_id"],
            t,
            step_of(record, t),
            next_observation=final_observation(record) if last else None,
        )
        cursors[index] += 1
    for name in ("online", "intervention"):
        assert transitions_of(streamed.buffers[name]) == transitions_of(whole.buffers[name])
        # each actor's chain shares frames even while interleaved: no slot more than whole episodes use
        assert streamed.buffers[name].size == whole.buffers[name].size
    assert (streamed.env_steps, streamed.episodes) == (whole.env_steps, whole.episodes)

    def by_content(summaries: list[dict]) -> list[tuple]:
        return sorted(tuple(sorted(summary.items())) for summary in summaries)

    assert by_content(streamed.window.state()) == by_content(whole.window.state())


def test_repeated_steps_are_ignored_and_gaps_are_survived(caplog) -> None:
    record = episodes(1, seed=3)[0]
    assert len(record) >= 5
    learner = Learner(task_config())
    learner.add_step("a", "e", 0, step_of(record, 0))
    learner.add_step("a", "e", 1, step_of(record, 1))
    stored = len(learner.buffers["online"]) + len(learner.buffers["intervention"])
    assert learner.add_step("a", "e", 1, step_of(record, 1)) == 0  # resent after a reconnect
    assert learner.add_step("a", "e", 0, step_of(record, 0)) == 0
    assert learner.env_steps == 2
    assert len(learner.buffers["online"]) + len(learner.buffers["intervention"]) == stored
    with caplog.at_level(logging.WARNING):
        assert learner.add_step("a", "e", 3, step_of(record, 3)) == 0  # step 2 never came: step 1 is dropped
    assert "never arrived" in caplog.text and learner.assembler.gaps == 1
    assert learner.add_step("a", "e", 4, step_of(record, 4)) == 1
    assert learner.abandon_episode("a", "e") and not learner.abandon_episode("a", "e")


def test_steps_of_a_finished_episode_arriving_again_are_ignored() -> None:
    record = episodes(1, seed=4)[0]
    learner = Learner(task_config())
    for t in range(len(record)):
        final = final_observation(record) if t == len(record) - 1 else None
        learner.add_step("a", "e", t, step_of(record, t), next_observation=final)
    stored = {name: len(buffer) for name, buffer in learner.buffers.items()}
    assert learner.add_step("a", "e", len(record) - 2, step_of(record, len(record) - 2)) == 0
    assert {name: len(buffer) for name, buffer in learner.buffers.items()} == stored
    assert learner.env_steps == len(record) and not list(learner.assembler)


def test_bad_steps_are_refused_with_clear_errors() -> None:
    record = episodes(1)[0]
    learner = Learner(task_config())
    step = step_of(record, 0)
    bad_state = StepRecord(**{**vars(step), "state": np.array([np.nan, 0], np.float32)})
    with pytest.raises(ValueError, match="actor 'a' episode 'e' step 0: state must be 2 finite numbers"):
        learner.add_step("a", "e", 0, bad_state)
    with pytest.raises(ValueError, match="camera 'front' must be uint8"):
        learner.add_step("a", "e", 0, StepRecord(**{**vars(step), "images": {"front": np.zeros((8, 8, 3), np.uint8)}}))
    with pytest.raises(ValueError, match="no image of camera 'front'"):
        learner.add_step("a", "e", 0, StepRecord(**{**vars(step), "images": {}}))
    with pytest.raises(ValueError, match="action must be 2 finite numbers"):
        learner.add_step("a", "e", 0, StepRecord(**{**vars(step), "action": np.array([np.inf, 0.0])}))
    last = StepRecord(**{**vars(step), "truncated": True})
    with pytest.raises(ValueError, match="needs the final observation"):
        learner.add_step("a", "e", 0, last)
    assert learner.env_steps == 0 and len(learner.buffers["online"]) == 0


def test_bad_episodes_are_refused_with_clear_errors() -> None:
    record = episodes(1)[0]
    with pytest.raises(RecordError, match="no images of cameras"):
        Learner(task_config(cameras=("front", "wrist"))).add_episode(record)
    with pytest.raises(RecordError, match="expected"):
        Learner(task_config(image_size=(48, 48))).add_episode(record)
    with pytest.raises(RecordError, match="state 2 / action 2 long"):
        Learner(task_config(state_dim=3)).add_episode(record)
    record.arrays["obs_state"][1, 0] = np.nan
    with pytest.raises(RecordError, match="non-finite"):
        Learner(task_config()).add_episode(record)


def test_update_waits_for_data() -> None:
    learner = Learner(task_config(algorithm="hg_dagger", min_transitions=5))
    assert not learner.ready()
    with pytest.raises(NotReady):
        learner.update()
    rng = np.random.default_rng(0)
    learner.add_episode(run_episode(random_policy(rng), rng, operator=False))  # no operator: nothing to clone
    assert not learner.ready()
    while len(learner.buffers["demos"]) < 5:
        assert not learner.ready()
        learner.add_episode(run_episode(None, rng, operator=False), prior=True)
    assert learner.ready()


def read_csv_tags(run_dir) -> set[str]:
    with (run_dir / "metrics.csv").open() as file:
        return {row["tag"] for row in csv.DictReader(file)}


def test_metrics_reach_tensorboard_and_csv_and_plot(tmp_path) -> None:
    learner = Learner(task_config(log_every=2, batch_size=16), tmp_path)
    for record in episodes(4):
        learner.add_episode(record)
    for _ in range(4):
        learner.update()
    learner.close()
    expected = {
        "loss/critic",
        "loss/actor",
        "loss/temperature",
        "q/mean",
        "temperature",
        "entropy",
        "perf/updates_per_s",
        "buffer/online",
        "buffer/intervention",
        "episode/return",
        "episode/success",
        "episode/intervention_rate",
        "episode/takeovers",
        "actor/success_rate",
        "actor/intervention_rate",
        "actor/takeovers_per_episode",
    }
    assert expected <= read_csv_tags(tmp_path)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert expected <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/critic")] == [2, 4]
    assert [e.step for e in events.Scalars("actor/success_rate")] == np.cumsum([len(r) for r in episodes(4)]).tolist()

    rlif_main(["plot", str(tmp_path)])
    for name in ("learning_curves.png", "training.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_a_folder_without_metrics(tmp_path) -> None:
    with pytest.raises(SystemExit, match=r"metrics\.csv does not exist"):
        rlif_main(["plot", str(tmp_path)])


def test_rlif_train_runs_offline_from_recorded_episodes_and_resumes(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for index in range(3):
        run_episode(None, rng, operator=False, episode_id=f"d{index}").save(tmp_path / "demos" / f"d{index}.npz")
    for index, record in enumerate(episodes(2)):
        record.save(tmp_path / "logs" / f"e{index}.npz")
    arguments = [
        "train",
        "--run-dir",
        str(tmp_path / "run"),
        "--demos",
        str(tmp_path / "demos"),
        "--episodes",
        str(tmp_path / "logs"),
        "--checkpoint-every",
        "3",
        "--learner.batch-size",
        "16",
        "--learner.log-every",
        "2",
    ]
    rlif_main([*arguments, "--updates", "4"])
    run = tmp_path / "run"
    assert (run / "learning_curves.png").exists() and (run / "checkpoints" / "step_000000000004").is_dir()
    with np.load(run / "policy.npz", allow_pickle=False) as policy:
        assert all(policy[name].dtype == np.float32 for name in policy.files if name != POLICY_CONFIG_KEY)
    loaded = load_policy_file(run / "policy.npz")
    assert loaded.config.cameras == ("front",)
    rlif_main([*arguments, "--updates", "6"])  # resumes at 4 with the stored buffers
    assert (run / "checkpoints" / "step_000000000006").is_dir()
    assert LearnerConfig().cameras != ("front",)  # the shapes came from the episodes, not the defaults


def test_recorded_episode_files_load_as_prior_data(tmp_path) -> None:
    rng = np.random.default_rng(0)
    records = [run_episode(None, rng, operator=False, episode_id=f"d{i}") for i in range(3)]
    paths = [record.save(tmp_path / f"d{i}.npz") for i, record in enumerate(records)]
    learner = Learner(task_config(algorithm="bc"))
    assert learner.load_episodes(paths, prior=True) == sum(len(r) for r in records)
    assert len(learner.buffers["demos"]) == sum(len(r) for r in records) and learner.env_steps == 0
    (tmp_path / "broken.npz").write_bytes(b"PK not really")
    with pytest.raises(RecordError, match="not a readable episode"):
        learner.load_episodes([tmp_path / "broken.npz"])
