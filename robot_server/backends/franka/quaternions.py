"""The one place where quaternions cross between our convention and franky's.

Ours (the server, the wire, `ArmState`): [w, x, y, z]. franky's (`Affine`): [x, y, z, w].
"""

from __future__ import annotations

import numpy as np


def to_franky(quat_wxyz: np.ndarray) -> np.ndarray:
    """[w, x, y, z] -> [x, y, z, w]."""
    q = np.asarray(quat_wxyz, dtype=float)
    return np.array([q[1], q[2], q[3], q[0]])


def from_franky(quat_xyzw: np.ndarray) -> np.ndarray:
    """[x, y, z, w] -> [w, x, y, z]."""
    q = np.asarray(quat_xyzw, dtype=float).reshape(4)
    return np.array([q[3], q[0], q[1], q[2]])
