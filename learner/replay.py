"""Replay buffer: every observation stored once, as uint8 frames, the next one found by index.

Storage is a ring of observation slots (images, state). A slot that starts a stored
transition also holds its action, reward and `terminated`, and the index of the slot with its
next observation. Consecutive steps of one stream (an actor's episode) share slots: the next
observation of step t is the observation of step t+1, so an episode of T steps takes T+1 slots.
Steps of several actors may arrive interleaved; each stream continues its own chain.

When the ring wraps, overwriting a slot drops the transitions that read it, as observation or
as next observation; nothing ever pairs frames of different steps. Sampling is uniform over
the transitions still whole.

`directory` keeps every array in a memory-mapped `.npy` file instead of RAM.
"""

from __future__ import annotations

import fcntl
import mmap
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from learner.augment import gather_images

NO_SLOT = -1


@dataclass
class Batch:
    """Transitions as numpy arrays, one row each; images (B, H, W, 3) uint8."""

    images: dict[str, np.ndarray]
    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    """1.0 where the episode terminated after the step (no bootstrapping), else 0.0."""
    next_images: dict[str, np.ndarray]
    next_state: np.ndarray
    imitate: np.ndarray | None = None
    """True for the rows whose action the behaviour-cloning term of SAC imitates (`bc_rows`)."""

    @classmethod
    def empty(
        cls, size: int, cameras: tuple[str, ...], image_size: tuple[int, int], state_dim: int, action_dim: int
    ) -> Batch:
        def frames() -> dict[str, np.ndarray]:
            return {camera: np.empty((size, *image_size, 3), np.uint8) for camera in cameras}

        return cls(
            images=frames(),
            state=np.empty((size, state_dim), np.float32),
            action=np.empty((size, action_dim), np.float32),
            reward=np.empty(size, np.float32),
            terminated=np.empty(size, np.float32),
            next_images=frames(),
            next_state=np.empty((size, state_dim), np.float32),
            imitate=np.zeros(size, np.bool_),
        )

    def __len__(self) -> int:
        return int(self.action.shape[0])


class ReplayBuffer:
    def __init__(
        self,
        name: str,
        capacity: int,
        cameras: tuple[str, ...],
        image_size: tuple[int, int],
        state_dim: int,
        action_dim: int,
        directory: Path | None = None,
    ) -> None:
        if capacity < 2:
            raise ValueError("a replay buffer needs a capacity of at least 2 slots")
        self.name = name
        self.capacity = capacity
        self.cameras = tuple(cameras)
        self.image_size = tuple(image_size)
        self.state_dim = state_dim
        self.action_dim = action_dim
        self.directory = directory / name if directory is not None else None
        self._lock: TextIO | None = None
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = _lock_folder(self.directory)
        self.images = {camera: self._array(f"image_{camera}", (*image_size, 3), np.uint8) for camera in self.cameras}
        self.state = self._array("state", (state_dim,), np.float32)
        self.action = self._array("action", (action_dim,), np.float32)
        self.reward = self._array("reward", (), np.float32)
        self.terminated = self._array("terminated", (), np.bool_)
        self.has_next = self._array("has_next", (), np.bool_)
        """Slot starts a whole transition."""
        self.next_slot = self._array("next_slot", (), np.int32, fill=NO_SLOT)
        self.prev_slot = self._array("prev_slot", (), np.int32, fill=NO_SLOT)
        """The slot whose transition has this slot as its next observation."""
        self.cursor = 0
        self.size = 0
        self.transitions = 0
        self._open: dict[Hashable, tuple[int, int]] = {}
        """Stream -> (step index it continues with, slot of its last next observation)."""
        self._open_at: dict[int, Hashable] = {}

    def _array(self, key: str, shape: tuple[int, ...], dtype: Any, fill: int = 0) -> np.ndarray:
        full_shape = (self.capacity, *shape)
        if self.directory is None:
            # anonymous mapping: zero pages cost nothing until written, whatever malloc is told
            size = max(int(np.prod(full_shape)) * np.dtype(dtype).itemsize, 1)
            array = np.frombuffer(mmap.mmap(-1, size), dtype=dtype, count=int(np.prod(full_shape))).reshape(full_shape)
        else:
            array = np.lib.format.open_memmap(self.directory / f"{key}.npy", mode="w+", dtype=dtype, shape=full_shape)
        if fill:
            array[:] = fill
        return array

    def storage(self) -> dict[str, np.ndarray]:
        """Every stored array by name."""
        arrays = {f"image_{camera}": images for camera, images in self.images.items()}
        arrays.update(
            state=self.state,
            action=self.action,
            reward=self.reward,
            terminated=self.terminated,
            has_next=self.has_next,
            next_slot=self.next_slot,
            prev_slot=self.prev_slot,
        )
        return arrays

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.storage().values())

    def __len__(self) -> int:
        return self.transitions

    def close(self) -> None:
        """Flush memory-mapped files and release the folder."""
        for array in self.storage().values():
            if isinstance(array, np.memmap):
                array.flush()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ writing

    def add(
        self,
        stream: Hashable,
        step: int,
        observation: tuple[np.ndarray, Mapping[str, np.ndarray]],
        action: np.ndarray,
        reward: float,
        terminated: bool,
        next_observation: tuple[np.ndarray, Mapping[str, np.ndarray]],
        episode_ends: bool,
    ) -> int:
        """Store transition `step` of `stream` and return its slot. Observations are
        (state, {camera: image}); when step-1 of the same stream was the last transition stored
        for it, its next observation is reused as this observation."""
        slot = self._continuing_slot(stream, step)
        if slot == NO_SLOT:
            slot = self._write_observation(*observation)
        elif not np.array_equal(self.state[slot], observation[0]):
            raise ValueError(f"{self.name}: step {step} of {stream} does not start where step {step - 1} ended")
        next_slot = self._write_observation(*next_observation)
        self.action[slot] = action
        self.reward[slot] = reward
        self.terminated[slot] = terminated
        self.next_slot[slot] = next_slot
        self.prev_slot[next_slot] = slot
        self.has_next[slot] = True
        self.transitions += 1
        if not episode_ends:
            self._open[stream] = (step + 1, next_slot)
            self._open_at[next_slot] = stream
        return slot

    def _continuing_slot(self, stream: Hashable, step: int) -> int:
        opened = self._open.pop(stream, None)
        if opened is None:
            return NO_SLOT
        expected_step, slot = opened
        del self._open_at[slot]
        # The slot under the cursor is the next to be overwritten: it cannot hold this observation.
        if expected_step != step or slot == self.cursor:
            return NO_SLOT
        return slot

    def _write_observation(self, state: np.ndarray, images: Mapping[str, np.ndarray]) -> int:
        slot = self.cursor
        self._release(slot)
        self.state[slot] = state
        for camera, storage in self.images.items():
            storage[slot] = images[camera]
        self.cursor = (slot + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)
        return slot

    def _release(self, slot: int) -> None:
        """Forget what used slot `slot` before it is overwritten."""
        if self.has_next[slot]:
            self.has_next[slot] = False
            self.transitions -= 1
            self.prev_slot[self.next_slot[slot]] = NO_SLOT
        self.next_slot[slot] = NO_SLOT
        previous = int(self.prev_slot[slot])
        if previous != NO_SLOT and self.has_next[previous]:
            self.has_next[previous] = False
            self.transitions -= 1
            self.next_slot[previous] = NO_SLOT
        self.prev_slot[slot] = NO_SLOT
        stream = self._open_at.pop(slot, None)
        if stream is not None:
            del self._open[stream]

    # ------------------------------------------------------------------ reading

    def sample_slots(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`count` transition slots drawn uniformly, with replacement, from the whole transitions."""
        if self.transitions == 0:
            raise ValueError(f"the {self.name} buffer holds no transition to sample")
        chosen = np.empty(0, dtype=np.int64)
        for _ in range(8):  # rejection sampling: at least half the filled slots start a transition
            candidates = rng.integers(0, self.size, size=2 * (count - chosen.size) + 8)
            chosen = np.concatenate([chosen, candidates[self.has_next[candidates]]])
            if chosen.size >= count:
                return chosen[:count]
        valid = np.flatnonzero(self.has_next[: self.size])
        return np.concatenate([chosen, rng.choice(valid, size=count - chosen.size)])

    def gather(
        self,
        slots: np.ndarray,
        batch: Batch,
        offset: int = 0,
        shifts: np.ndarray | None = None,
        next_shifts: np.ndarray | None = None,
    ) -> None:
        """Copy the transitions at `slots` into rows offset.. of `batch`, images shifted by
        `shifts` / `next_shifts` ((n, 2) row and column shifts) when given."""
        rows = slice(offset, offset + len(slots))
        next_slots = self.next_slot[slots]
        np.take(self.state, slots, axis=0, out=batch.state[rows])
        np.take(self.state, next_slots, axis=0, out=batch.next_state[rows])
        np.take(self.action, slots, axis=0, out=batch.action[rows])
        np.take(self.reward, slots, axis=0, out=batch.reward[rows])
        batch.terminated[rows] = self.terminated[slots]
        for camera, storage in self.images.items():
            gather_images(storage, slots, batch.images[camera][rows], shifts)
            gather_images(storage, next_slots, batch.next_images[camera][rows], next_shifts)

    def transition(self, slot: int) -> dict[str, Any]:
        """One stored transition as plain arrays (for inspection and tests)."""
        if not self.has_next[slot]:
            raise KeyError(f"{self.name}: slot {slot} holds no whole transition")
        following = int(self.next_slot[slot])
        return {
            "state": self.state[slot].copy(),
            "images": {camera: storage[slot].copy() for camera, storage in self.images.items()},
            "action": self.action[slot].copy(),
            "reward": float(self.reward[slot]),
            "terminated": bool(self.terminated[slot]),
            "next_state": self.state[following].copy(),
            "next_images": {camera: storage[following].copy() for camera, storage in self.images.items()},
        }

    def valid_slots(self) -> np.ndarray:
        return np.flatnonzero(self.has_next[: self.size])

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Filled part of every array, and the cursor, counts and open streams as JSON values."""
        arrays = {key: np.ascontiguousarray(array[: self.size]) for key, array in self.storage().items()}
        meta = {
            "capacity": self.capacity,
            "cursor": self.cursor,
            "size": self.size,
            "transitions": self.transitions,
            "open": [[_plain_key(stream), step, slot] for stream, (step, slot) in self._open.items()],
        }
        return arrays, meta

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        if meta["capacity"] != self.capacity:
            raise ValueError(f"{self.name}: checkpoint holds a buffer of {meta['capacity']} slots, not {self.capacity}")
        size = int(meta["size"])
        for key, storage in self.storage().items():
            array = arrays[key]
            if array.shape != (size, *storage.shape[1:]) or array.dtype != storage.dtype:
                raise ValueError(f"{self.name}: stored '{key}' is {array.dtype}{array.shape}, expected {size} rows")
            storage[:size] = array
        self.cursor, self.size, self.transitions = int(meta["cursor"]), size, int(meta["transitions"])
        if int(self.has_next[:size].sum()) != self.transitions:
            raise ValueError(f"{self.name}: stored transition count does not match the stored flags")
        self._open = {_hashable_key(stream): (int(step), int(slot)) for stream, step, slot in meta["open"]}
        self._open_at = {slot: stream for stream, (_, slot) in self._open.items()}


def _lock_folder(folder: Path) -> TextIO:
    """Hold an exclusive lock on a buffer folder: two learners writing one set of memory-mapped
    files would corrupt each other's buffers."""
    lock = (folder / ".lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise RuntimeError(f"replay folder {folder} is in use by another learner") from None
    return lock


def _plain_key(stream: Hashable) -> Any:
    return list(stream) if isinstance(stream, tuple) else stream


def _hashable_key(stream: Any) -> Hashable:
    return tuple(stream) if isinstance(stream, list) else stream
