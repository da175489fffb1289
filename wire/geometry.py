"""Quaternion and rotation-vector helpers shared by both sides of the wire.

Poses travel as a position and a unit quaternion [w, x, y, z] in the robot base frame;
rotation vectors are axis * angle. These are the conventions of every message.

The functions take any sequence of floats and return numpy arrays; they compute with
Python floats, which is several times faster than numpy for 3- and 4-vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Vector = Sequence[float] | np.ndarray


def _floats(v: Vector) -> list[float]:
    return v.tolist() if isinstance(v, np.ndarray) else [float(x) for x in v]


def quat_mul(a: Vector, b: Vector) -> np.ndarray:
    aw, ax, ay, az = _floats(a)
    bw, bx, by, bz = _floats(b)
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_conj(q: Vector) -> np.ndarray:
    w, x, y, z = _floats(q)
    return np.array([w, -x, -y, -z])


def quat_normalize(q: Vector) -> np.ndarray:
    w, x, y, z = _floats(q)
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    return np.array([w / norm, x / norm, y / norm, z / norm])


def quat_from_rotvec(rotvec: Vector) -> np.ndarray:
    x, y, z = _floats(rotvec)
    angle = math.sqrt(x * x + y * y + z * z)
    if angle < 1e-12:
        return quat_normalize([1.0, 0.5 * x, 0.5 * y, 0.5 * z])
    scale = math.sin(angle / 2) / angle
    return np.array([math.cos(angle / 2), x * scale, y * scale, z * scale])


def rotvec_from_quat(q: Vector) -> np.ndarray:
    """Rotation vector (axis * angle, angle in [0, pi]) of a unit quaternion."""
    w, x, y, z = _floats(q)
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    sin_half = math.sqrt(x * x + y * y + z * z)
    if sin_half < 1e-12:
        return np.array([2.0 * x, 2.0 * y, 2.0 * z])
    scale = 2.0 * math.atan2(sin_half, w) / sin_half
    return np.array([x * scale, y * scale, z * scale])


def quat_to_matrix(q: Vector) -> np.ndarray:
    w, x, y, z = _floats(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def quat_rotate(q: Vector, v: Vector) -> np.ndarray:
    """Rotate vector v by quaternion q."""
    return quat_to_matrix(q) @ np.asarray(v, dtype=np.float64)


def rotation_between(q_from: Vector, q_to: Vector) -> np.ndarray:
    """Rotation vector r, in the base frame, with quat_from_rotvec(r) * q_from == q_to."""
    return rotvec_from_quat(quat_mul(q_to, quat_conj(q_from)))
