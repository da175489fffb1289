"""DrQ's random-shift augmentation (Kostrikov et al. 2020), done while a batch is gathered.

Padding an image by `pad` replicated pixels and cropping it back at a random offset is the
same as shifting it by (dy, dx) in [-pad, pad] with edge replication. That is what
`shifted_copy` does, straight from the replay storage into the batch: one copy per image,
no padded intermediate.
"""

from __future__ import annotations

import numpy as np


def random_shifts(rng: np.random.Generator, count: int, pad: int) -> np.ndarray:
    """(count, 2) integer row and column shifts in [-pad, pad]."""
    return rng.integers(-pad, pad + 1, size=(count, 2))


def shifted_copy(source: np.ndarray, out: np.ndarray, dy: int, dx: int) -> None:
    """out[y, x] = source[clamp(y + dy), clamp(x + dx)] for an (H, W, C) image."""
    height, width = source.shape[:2]
    dy = min(max(dy, 1 - height), height - 1)  # a shift past the edge repeats the edge: the same
    dx = min(max(dx, 1 - width), width - 1)
    top, bottom = max(0, -dy), min(height, height - dy)
    left, right = max(0, -dx), min(width, width - dx)
    out[top:bottom, left:right] = source[top + dy : bottom + dy, left + dx : right + dx]
    if left > 0:
        out[top:bottom, :left] = out[top:bottom, left : left + 1]
    if right < width:
        out[top:bottom, right:] = out[top:bottom, right - 1 : right]
    if top > 0:
        out[:top] = out[top : top + 1]
    if bottom < height:
        out[bottom:] = out[bottom - 1 : bottom]


def gather_images(storage: np.ndarray, slots: np.ndarray, out: np.ndarray, shifts: np.ndarray | None) -> None:
    """out[i] = storage[slots[i]], shifted by shifts[i] when given."""
    if shifts is None:
        np.take(storage, slots, axis=0, out=out)
        return
    for row, (slot, (dy, dx)) in enumerate(zip(slots.tolist(), shifts.tolist(), strict=True)):
        shifted_copy(storage[slot], out[row], dy, dx)
