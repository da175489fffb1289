"""Replay buffer: sampled transitions are exactly the stored ones, across wrap-around, episode
boundaries and interleaved actors; memory per transition; disk backing; augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learner.augment import gather_images, random_shifts, shifted_copy
from learner.replay import Batch, ReplayBuffer

IMAGE = (2, 3)
CAMERAS = ("front", "wrist")


def observation(obs_id: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """An observation that carries its id in the state and in every pixel of both cameras."""
    state = np.array([obs_id, -obs_id], np.float32)
    images = {
        camera: np.full((*IMAGE, 3), (obs_id * (index + 3)) % 251, np.uint8) for index, camera in enumerate(CAMERAS)
    }
    return state, images


def make_buffer(capacity: int, directory=None) -> ReplayBuffer:
    return ReplayBuffer("test", capacity, CAMERAS, IMAGE, 2, 3, directory)


class ReferenceRing:
    """A plain model of the ring: which observation id each slot holds, and which transitions
    (pairs of slots) are still whole."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.cursor = 0
        self.holds: list[int | None] = [None] * capacity
        self.open: dict[object, tuple[int, int]] = {}
        self.whole: dict[int, tuple[int, int, int]] = {}  # obs slot -> (obs id, next obs id, transition id)
        self.next_of: dict[int, int] = {}  # obs slot -> next obs slot of the whole transitions

    def write(self, obs_id: int) -> int:
        slot = self.cursor
        self.holds[slot] = obs_id
        self.whole = {s: t for s, t in self.whole.items() if slot not in (s, self.next_of[s])}
        self.open = {k: v for k, v in self.open.items() if v[1] != slot}
        self.cursor = (slot + 1) % self.capacity
        return slot

    def add(self, stream: object, step: int, obs_id: int, next_id: int, transition_id: int, ends: bool) -> None:
        opened = self.open.pop(stream, None)
        if opened is not None and opened[0] == step and opened[1] != self.cursor:
            slot = opened[1]
        else:
            slot = self.write(obs_id)
        next_slot = self.write(next_id)
        self.next_of[slot] = next_slot
        self.whole[slot] = (obs_id, next_id, transition_id)
        if not ends:
            self.open[stream] = (step + 1, next_slot)


@st.composite
def interleaved_episodes(draw: st.DrawFn) -> list[tuple[tuple[int, int], int, bool, bool]]:
    """(stream, step, terminated, ends) in arrival order: episodes of up to 3 actors, each actor's
    episodes in sequence, the actors' steps interleaved."""
    actors = draw(st.integers(1, 3))
    queues: list[list[tuple[tuple[int, int], int, bool, bool]]] = []
    for actor in range(actors):
        queue = []
        for episode in range(draw(st.integers(1, 4))):
            length = draw(st.integers(1, 7))
            terminated = draw(st.booleans())
            for step in range(length):
                last = step == length - 1
                queue.append(((actor, episode), step, terminated and last, last))
        queues.append(queue)
    order = []
    while any(queues):
        index = draw(st.sampled_from([i for i, queue in enumerate(queues) if queue]))
        order.append(queues[index].pop(0))
    return order


def fill(buffer: ReplayBuffer, events, reference: ReferenceRing | None = None) -> dict[int, dict]:
    """Add the events; observation ids follow each stream's chain. Returns what was added by
    transition id (stored in the action)."""
    next_obs_id = 1
    current: dict[tuple[int, int], int] = {}
    added: dict[int, dict] = {}
    for transition_id, (stream, step, terminated, ends) in enumerate(events):
        obs_id = current.get(stream)
        if obs_id is None:
            obs_id, next_obs_id = next_obs_id, next_obs_id + 1
        new_id, next_obs_id = next_obs_id, next_obs_id + 1
        action = np.array([transition_id, step, -1], np.float32)
        reward = float(transition_id % 5) - 2.0
        buffer.add(stream, step, observation(obs_id), action, reward, terminated, observation(new_id), ends)
        if reference is not None:
            reference.add(stream, step, obs_id, new_id, transition_id, ends)
        added[transition_id] = {
            "obs": obs_id,
            "next": new_id,
            "action": action,
            "reward": reward,
            "terminated": terminated,
        }
        if ends:
            current.pop(stream, None)
        else:
            current[stream] = new_id
    return added


def assert_matches(row: dict, added: dict[int, dict]) -> int:
    transition_id = int(row["action"][0])
    expected = added[transition_id]
    state, images = observation(expected["obs"])
    next_state, next_images = observation(expected["next"])
    np.testing.assert_array_equal(row["state"], state)
    np.testing.assert_array_equal(row["next_state"], next_state)
    for camera in CAMERAS:
        np.testing.assert_array_equal(row["images"][camera], images[camera])
        np.testing.assert_array_equal(row["next_images"][camera], next_images[camera])
    np.testing.assert_array_equal(row["action"], expected["action"])
    assert row["reward"] == expected["reward"]
    assert bool(row["terminated"]) == expected["terminated"]
    return transition_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=interleaved_episodes(), capacity=st.integers(2, 24))
def test_stored_transitions_are_exactly_the_added_ones(events, capacity: int) -> None:
    buffer = make_buffer(capacity)
    reference = ReferenceRing(capacity)
    added = fill(buffer, events, reference)
    stored = set()
    for slot in buffer.valid_slots():
        stored.add(assert_matches(buffer.transition(int(slot)), added))
    # the same transitions survive as in the plain model of the ring
    assert stored == {transition_id for _, _, transition_id in reference.whole.values()}
    assert len(buffer) == len(stored) and buffer.size == min(capacity, buffer.size)
    # the newest transition is always whole
    assert len(events) - 1 in stored


@settings(max_examples=100, deadline=None)
@given(events=interleaved_episodes(), capacity=st.integers(2, 24), seed=st.integers(0, 2**32 - 1))
def test_sampled_batches_are_stored_transitions(events, capacity: int, seed: int) -> None:
    buffer = make_buffer(capacity)
    added = fill(buffer, events)
    rng = np.random.default_rng(seed)
    slots = buffer.sample_slots(rng, 32)
    assert set(slots.tolist()) <= set(buffer.valid_slots().tolist())
    batch = Batch.empty(40, CAMERAS, IMAGE, 2, 3)
    buffer.gather(slots, batch, offset=8)
    for row in range(8, 40):
        fields = {
            "state": batch.state[row],
            "next_state": batch.next_state[row],
            "images": {c: batch.images[c][row] for c in CAMERAS},
            "next_images": {c: batch.next_images[c][row] for c in CAMERAS},
            "action": batch.action[row],
            "reward": batch.reward[row],
            "terminated": batch.terminated[row],
        }
        assert assert_matches(fields, added) == int(buffer.action[slots[row - 8]][0])


def test_sampling_is_uniform_over_whole_transitions() -> None:
    buffer = make_buffer(50)
    events = [((0, e), s, False, s == 4) for e in range(20) for s in range(5)]  # wraps around twice
    fill(buffer, events)
    valid = buffer.valid_slots()
    counts = np.bincount(buffer.sample_slots(np.random.default_rng(0), 40_000), minlength=50)[valid]
    assert counts.sum() == 40_000
    expected = 40_000 / len(valid)
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def test_episode_boundaries_are_never_crossed() -> None:
    buffer = make_buffer(100)
    fill(buffer, [((0, e), s, s == 2 and e % 2 == 0, s == 2) for e in range(4) for s in range(3)])
    # 4 episodes of 3 steps take 4 slots each: no transition reads the next episode's first frame
    assert buffer.size == 16 and len(buffer) == 12
    for slot in buffer.valid_slots():
        row = buffer.transition(int(slot))
        assert row["next_state"][0] == row["state"][0] + 1


def test_empty_buffer_refuses_to_sample() -> None:
    with pytest.raises(ValueError, match="holds no transition"):
        make_buffer(4).sample_slots(np.random.default_rng(0), 1)


def test_memory_per_transition_at_two_128px_cameras() -> None:
    frame_bytes = 2 * 128 * 128 * 3
    buffer = ReplayBuffer("online", 1010, ("front", "wrist"), (128, 128), 13, 7)
    images = {camera: np.zeros((128, 128, 3), np.uint8) for camera in ("front", "wrist")}
    for episode in range(10):  # 10 episodes of 100 steps (the env's default limit) fill 1010 slots
        for step in range(100):
            state = np.full(13, step, np.float32)
            next_state = np.full(13, step + 1, np.float32)
            buffer.add(episode, step, (state, images), np.zeros(7), 0.0, False, (next_state, images), step == 99)
    assert len(buffer) == 1000 and buffer.size == 1010
    per_transition = buffer.nbytes / len(buffer)
    assert per_transition <= 1.05 * frame_bytes, per_transition


def test_disk_backed_buffer_matches_ram(tmp_path) -> None:
    events = [((a, e), s, False, s == 5) for e in range(3) for s in range(6) for a in range(2)]
    ram, disk = make_buffer(20), make_buffer(20, tmp_path)
    fill(ram, events)
    fill(disk, events)
    assert isinstance(disk.state, np.memmap) and (tmp_path / "test" / "image_front.npy").exists()
    for key, array in ram.storage().items():
        np.testing.assert_array_equal(np.asarray(disk.storage()[key]), array)
    assert np.load(tmp_path / "test" / "state.npy", mmap_mode="r").shape == (20, 2)


def test_state_dict_round_trip_samples_the_same() -> None:
    events = [((0, e), s, s == 3, s == 3) for e in range(9) for s in range(4)]
    original = make_buffer(16)
    fill(original, events)
    arrays, meta = original.state_dict()
    restored = make_buffer(16)
    restored.load_state_dict(arrays, meta)
    for key, array in original.storage().items():
        np.testing.assert_array_equal(restored.storage()[key], array)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(original.sample_slots(a, 64), restored.sample_slots(b, 64))
    # a stream left open continues from its stored next observation after the round trip
    original.add((9, 9), 0, observation(500), np.zeros(3), 0.0, False, observation(501), False)
    arrays, meta = original.state_dict()
    restored.load_state_dict(arrays, meta)
    slot = restored.add((9, 9), 1, observation(501), np.zeros(3), 0.0, False, observation(502), True)
    assert restored.transition(slot)["state"][0] == 501
    with pytest.raises(ValueError, match="slots"):
        make_buffer(17).load_state_dict(arrays, meta)


def test_a_continuation_must_start_where_the_last_step_ended() -> None:
    buffer = make_buffer(8)
    buffer.add("s", 0, observation(1), np.zeros(3), 0.0, False, observation(2), False)
    with pytest.raises(ValueError, match="does not start where"):
        buffer.add("s", 1, observation(7), np.zeros(3), 0.0, False, observation(8), False)


def reference_shift(image: np.ndarray, dy: int, dx: int, pad: int) -> np.ndarray:
    """DrQ's definition: pad by replicating edges, crop at offset (pad + dy, pad + dx)."""
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    height, width = image.shape[:2]
    return padded[pad + dy : pad + dy + height, pad + dx : pad + dx + width]


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    pad=st.integers(0, 4),
    data=st.data(),
)
def test_shifted_copy_is_pad_and_crop(height: int, width: int, pad: int, data: st.DataObject) -> None:
    dy = data.draw(st.integers(-pad, pad))
    dx = data.draw(st.integers(-pad, pad))
    image = np.random.default_rng(height * 10 + width).integers(0, 255, (height, width, 3), dtype=np.uint8)
    out = np.empty_like(image)
    shifted_copy(image, out, dy, dx)
    np.testing.assert_array_equal(out, reference_shift(image, dy, dx, pad))


def test_gather_images_applies_each_rows_shift() -> None:
    storage = np.random.default_rng(0).integers(0, 255, (5, 16, 16, 3), dtype=np.uint8)
    slots = np.array([4, 0, 4, 2])
    shifts = random_shifts(np.random.default_rng(1), 4, 3)
    out = np.empty((4, 16, 16, 3), np.uint8)
    gather_images(storage, slots, out, shifts)
    for row, (slot, (dy, dx)) in enumerate(zip(slots, shifts, strict=True)):
        np.testing.assert_array_equal(out[row], reference_shift(storage[slot], dy, dx, 3))
    gather_images(storage, slots, out, None)
    np.testing.assert_array_equal(out, storage[slots])
