"""Recorded episodes: round trip, atomic save, and refusal of malformed files."""

from __future__ import annotations

import numpy as np
import pytest

from wire.records import EpisodeRecord, RecordError, StepRecord, onsets


def make_episode(steps: int = 5, intervened=None) -> EpisodeRecord:
    rng = np.random.default_rng(0)
    intervened = list(intervened) if intervened is not None else [False, True, True, False, True][:steps]
    flags = onsets(intervened)
    records = [
        StepRecord(
            state=rng.normal(size=13).astype(np.float32),
            images={"front": rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)},
            policy_action=rng.uniform(-1, 1, 7),
            action=rng.uniform(-1, 1, 7),
            intervened=bool(intervened[t]),
            intervention_onset=bool(flags[t]),
            source="human" if intervened[t] else "policy",
            truncated=t == steps - 1,
            success=False,
            stamp=float(t),
            policy_version=3,
        )
        for t in range(steps)
    ]
    final = {"front": np.zeros((8, 8, 3), np.uint8)}
    return EpisodeRecord.from_steps(records, np.zeros(13, np.float32), final, episode_id="e1", actor_id="a1")


def test_onset_rule() -> None:
    assert onsets([True, True, False, True, False, True, True]).tolist() == [
        True,
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    assert onsets([]).tolist() == []


def test_round_trip(tmp_path) -> None:
    episode = make_episode()
    loaded = EpisodeRecord.load(episode.save(tmp_path / "ep.npz"))
    assert loaded.meta == episode.meta and len(loaded) == 5
    for key, array in episode.arrays.items():
        np.testing.assert_array_equal(loaded.arrays[key], array)
    assert loaded.arrays["obs_front"].shape == (6, 8, 8, 3)
    assert not list(tmp_path.glob(".*tmp"))


def test_malformed_episodes_are_refused(tmp_path) -> None:
    episode = make_episode()
    episode.arrays["intervention_onset"][2] = True
    with pytest.raises(RecordError, match="first step of each takeover"):
        episode.save(tmp_path / "bad.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(RecordError):
        EpisodeRecord.load(tmp_path / "garbage.npz")
    episode = make_episode()
    episode.arrays["truncated"][0] = True
    with pytest.raises(RecordError, match="only the last step"):
        episode.validate()
    episode = make_episode()
    payload = dict(np.load(episode.save(tmp_path / "listed.npz")))
    payload["meta"] = np.frombuffer(b"[1, 2]", dtype=np.uint8)
    np.savez(tmp_path / "listed.npz", **payload)
    with pytest.raises(RecordError, match="'meta' must be a JSON object, got list"):
        EpisodeRecord.load(tmp_path / "listed.npz")
