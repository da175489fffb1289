"""Checkpoints: exact resume, atomic saves that survive SIGKILL, fallback past a corrupt newest
checkpoint, refusal of incompatible settings, keeping the last K."""

from __future__ import annotations

import builtins
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import learner.checkpoint as checkpoint_module
from learner.checkpoint import CheckpointError, IncompatibleCheckpoint, checkpoint_folders
from learner.learner import Learner
from tests.learner_tasks import final_observation, random_policy, run_episode, step_of, task_config

REPO = Path(__file__).resolve().parents[1]


def config(**overrides: object):
    return task_config(capacity=300, batch_size=32, critic_ensemble=4, hidden_dims=(32, 32), **overrides)


def filled_learner(run_dir: Path, **overrides: object) -> Learner:
    learner = Learner(config(**overrides), run_dir)
    rng = np.random.default_rng(0)
    for episode in range(4):
        learner.add_episode(run_episode(random_policy(rng), rng, operator=True, episode_id=f"e{episode}"))
    learner.add_episode(run_episode(None, rng, operator=False, episode_id="demo"), prior=True)
    return learner


def stream_steps(learner: Learner, record, steps: range) -> None:
    for t in steps:
        final = final_observation(record) if t == len(record) - 1 else None
        learner.add_step("actor-1", "live", t, step_of(record, t), next_observation=final)


def assert_same_learners(a: Learner, b: Learner) -> None:
    ours, theirs = a.agent.checkpoint_state()["agent"], b.agent.checkpoint_state()["agent"]
    for (name, x), (_, y) in zip(ours.items(), theirs.items(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
    for buffer_name, buffer in a.buffers.items():
        for key, array in buffer.storage().items():
            np.testing.assert_array_equal(b.buffers[buffer_name].storage()[key], array, err_msg=key)
    assert (a.update_step, a.env_steps, a.episodes) == (b.update_step, b.env_steps, b.episodes)


def test_resume_continues_exactly(tmp_path) -> None:
    original = filled_learner(tmp_path)
    for _ in range(3):
        original.update()
    live = run_episode(random_policy(np.random.default_rng(9)), np.random.default_rng(9), operator=True)
    stream_steps(original, live, range(0, 4))  # an episode in flight: its held-back step is saved too
    original.extra_state["streams"] = {"actor-1": 17}
    original.save_checkpoint()

    resumed = Learner(original.config, tmp_path)
    assert resumed.restore() == 3
    assert_same_learners(original, resumed)
    assert resumed.extra_state == {"streams": {"actor-1": 17}}
    assert resumed.window.values() == original.window.values() and "success_rate" in resumed.window.values()
    resumed_optimizers = resumed.agent.checkpoint_state()["optimizers"]
    for name, ours in original.agent.checkpoint_state()["optimizers"].items():
        theirs = resumed_optimizers[name]
        for key, state in ours["state"].items():
            for field, value in state.items():
                torch.testing.assert_close(theirs["state"][key][field], value, rtol=0, atol=0)
    batch_a, batch_b = original.sample(), resumed.sample()
    for field in ("state", "action", "reward", "terminated", "next_state"):
        np.testing.assert_array_equal(getattr(batch_a, field), getattr(batch_b, field))
    np.testing.assert_array_equal(batch_a.images["front"], batch_b.images["front"])
    for _ in range(2):
        assert original.update() == resumed.update()
    stream_steps(original, live, range(4, len(live)))
    stream_steps(resumed, live, range(4, len(live)))
    assert_same_learners(original, resumed)
    assert original.update() == resumed.update()


def test_resume_without_a_checkpoint_starts_fresh(tmp_path) -> None:
    assert Learner(config(), tmp_path).restore() is None


def test_checkpoint_holds_checksums_and_no_pickle(tmp_path) -> None:
    learner = filled_learner(tmp_path)
    learner.update()
    path = learner.save_checkpoint()
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["step"] == 1 and manifest["format_version"] == 1
    assert manifest["config"]["algorithm"] == "rlif"
    assert "state.pt" in manifest["files"] and any(name.startswith("arrays/online.") for name in manifest["files"])
    torch.load(path / "state.pt", weights_only=True)
    for array_file in (path / "arrays").iterdir():
        np.load(array_file, allow_pickle=False)


def test_checkpoint_layout_stays_the_one_older_runs_wrote(tmp_path) -> None:
    """The names a checkpoint of format 1 holds: a checkpoint written by an older learner loads."""
    learner = filled_learner(tmp_path)
    live = run_episode(random_policy(np.random.default_rng(9)), np.random.default_rng(9), operator=True)
    stream_steps(learner, live, range(0, 2))
    learner.update()
    path = learner.save_checkpoint()
    tensors = torch.load(path / "state.pt", weights_only=True)
    assert set(tensors) == {"agent", "optimizers", "generator"}
    assert set(tensors["optimizers"]) == {"critic", "actor", "temperature"}
    assert {key.split(".")[0] for key in tensors["agent"]} == {
        "encoder",
        "actor",
        "critic",
        "target_critic",
        "log_temperature",
    }
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["meta"]) == {
        "update_step",
        "env_steps",
        "episodes",
        "rng",
        "window",
        "buffers",
        "streams",
        "extra",
    }
    names = {name.removeprefix("arrays/").removesuffix(".npy") for name in manifest["files"] if name != "state.pt"}
    assert {name.split(".")[0] for name in names} == {"online", "intervention", "demos", "streams"}
    assert {"online.image_front", "online.state", "online.next_slot", "streams.pending0_state"} <= names
    bc = filled_learner(tmp_path / "bc", algorithm="bc")
    bc.update()
    tensors = torch.load(bc.save_checkpoint() / "state.pt", weights_only=True)
    assert set(tensors["optimizers"]) == {"actor"} and {key.split(".")[0] for key in tensors["agent"]} == {
        "encoder",
        "actor",
    }


def test_reading_a_checkpoint_opens_each_file_once(tmp_path, monkeypatch) -> None:
    learner = filled_learner(tmp_path)
    learner.update()
    path = learner.save_checkpoint()
    opened: list[str] = []
    real_open = io.open

    def counting_open(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, str | os.PathLike) else repr(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting_open)
    monkeypatch.setattr(builtins, "open", counting_open)
    checkpoint = checkpoint_module.read_checkpoint(path)
    monkeypatch.undo()
    files = [str(path / name) for name in json.loads((path / "manifest.json").read_text())["files"]]
    assert sorted(name for name in opened if name != str(path / "manifest.json")) == sorted(files)
    resumed = Learner(learner.config, tmp_path)
    assert resumed.restore() == checkpoint.step == 1
    assert_same_learners(learner, resumed)


def test_keeps_the_last_k_checkpoints(tmp_path) -> None:
    learner = filled_learner(tmp_path, checkpoint_keep=2)
    for _ in range(4):
        learner.update()
        learner.save_checkpoint()
    assert [p.name for p in checkpoint_folders(tmp_path / "checkpoints")] == ["step_000000000003", "step_000000000004"]


def test_corrupt_newest_checkpoint_falls_back_with_a_warning(tmp_path) -> None:
    learner = filled_learner(tmp_path)
    learner.update()
    learner.save_checkpoint()
    learner.update()
    newest = learner.save_checkpoint()
    state = newest / "state.pt"
    data = bytearray(state.read_bytes())
    data[len(data) // 2] ^= 0xFF
    state.write_bytes(bytes(data))
    resumed = Learner(learner.config, tmp_path)
    with pytest.warns(RuntimeWarning, match="does not match its checksum.*falling back"):
        assert resumed.restore() == 1
    (newest / "manifest.json").unlink()
    with pytest.warns(RuntimeWarning, match="unreadable manifest"):
        assert Learner(learner.config, tmp_path).restore() == 1
    first = checkpoint_folders(tmp_path / "checkpoints")[0]
    next((first / "arrays").iterdir()).write_bytes(b"truncated")
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError, match="none of the 2 checkpoints"):
        Learner(learner.config, tmp_path).restore()


def test_incompatible_checkpoint_is_refused_with_a_clear_message(tmp_path) -> None:
    learner = filled_learner(tmp_path)
    learner.save_checkpoint()
    other = dataclasses.replace(learner.config, image_size=(48, 48), critic_ensemble=6)
    with pytest.raises(IncompatibleCheckpoint, match=r"image_size: checkpoint \[32, 32\], now \[48, 48\]"):
        Learner(other, tmp_path).restore()
    with pytest.raises(IncompatibleCheckpoint, match="critic_ensemble"):
        Learner(dataclasses.replace(learner.config, critic_ensemble=6), tmp_path).restore()
    # settings that do not shape anything may change between runs
    assert Learner(dataclasses.replace(learner.config, critic_lr=1e-4), tmp_path).restore() == 0


def test_checkpoints_without_buffers_restore_the_networks(tmp_path) -> None:
    learner = filled_learner(tmp_path, checkpoint_buffers=False)
    learner.update()
    learner.save_checkpoint()
    resumed = Learner(learner.config, tmp_path)
    resumed.restore()
    resumed_state = resumed.agent.checkpoint_state()["agent"]
    for name, value in learner.agent.checkpoint_state()["agent"].items():
        torch.testing.assert_close(resumed_state[name], value, rtol=0, atol=0)
    assert len(resumed.buffers["online"]) == 0


SAVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    import learner.checkpoint as checkpoint
    from tests.test_learner_checkpoint import filled_learner

    run_dir, mode = Path(sys.argv[1]), sys.argv[2]
    learner = filled_learner(run_dir)
    learner.update()
    learner.save_checkpoint()
    print("saved", learner.update_step, flush=True)
    if mode == "stall":
        # the second save stops for good after writing its third file: the parent kills it there
        write_file, written = checkpoint._write_file, []
        def stalling_write(path, write):
            result = write_file(path, write)
            written.append(path)
            if len(written) == 3:
                (run_dir / "stalled").write_text(str(path))
                time.sleep(600)
            return result
        checkpoint._write_file = stalling_write
    while True:
        learner.update()
        learner.save_checkpoint()
        print("saved", learner.update_step, flush=True)
    """
)


def start_saver(tmp_path: Path, run_dir: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(repo=str(REPO)))
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(script), str(run_dir), mode],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )


def wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the saver never got there")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_in_the_middle_of_a_save_leaves_the_previous_checkpoint(tmp_path) -> None:
    saver = start_saver(tmp_path, tmp_path / "run", "stall")
    try:
        assert saver.stdout is not None and saver.stdout.readline().split() == ["saved", "1"]
        wait_for((tmp_path / "run" / "stalled").exists)
        saver.send_signal(signal.SIGKILL)
    finally:
        saver.kill()
        saver.wait()
    root = tmp_path / "run" / "checkpoints"
    assert list(root.glob(".step_000000000002.*.tmp"))  # the half-written save is there, out of the way
    resumed = Learner(config(), tmp_path / "run")
    assert resumed.restore() == 1
    resumed.update()
    resumed.save_checkpoint()  # the next save clears what the killed one left
    assert not list(root.glob(".*.tmp"))
    assert [p.name for p in checkpoint_folders(root)] == ["step_000000000001", "step_000000000002"]


@pytest.mark.slow
def test_sigkill_at_random_moments_always_leaves_a_loadable_checkpoint(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for attempt in range(3):
        run_dir = tmp_path / f"run{attempt}"
        saver = start_saver(tmp_path, run_dir, "loop")
        try:
            assert saver.stdout is not None
            last = int(saver.stdout.readline().split()[1])
            time.sleep(float(rng.uniform(0.0, 1.5)))
            saver.send_signal(signal.SIGKILL)
            for line in saver.stdout:
                last = int(line.split()[1])
        finally:
            saver.kill()
            saver.wait()
        step = Learner(config(), run_dir).restore()
        assert step is not None and step >= last, (attempt, step, last)


def test_disk_backed_buffers_resume(tmp_path) -> None:
    learner = filled_learner(tmp_path / "run", disk_dir=tmp_path / "replay")
    assert isinstance(learner.buffers["online"].state, np.memmap)
    learner.update()
    learner.save_checkpoint()
    with pytest.raises(RuntimeError, match="in use by another learner"):
        Learner(learner.config, tmp_path / "run")
    resumed = Learner(dataclasses.replace(learner.config, disk_dir=tmp_path / "replay2"), tmp_path / "run")
    assert resumed.restore() == 1
    assert_same_learners(learner, resumed)
    learner.close()
    Learner(learner.config).close()  # the folder is free again
