"""Quaternion and rotation-vector helpers shared by both sides of the wire.

Poses travel as a position and a unit quaternion [w, x, y, z] in the robot base frame;
rotation vectors are axis * angle. These are the conventions of every message.

The public functions take any sequence of floats and return numpy arrays. They compute
with Python floats (the `_t` variants take and return tuples), which is several times
faster than numpy for 3- and 4-vectors; the server runs them on every command.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Vector = Sequence[float] | np.ndarray
Quat = tuple[float, float, float, float]
Vec3 = tuple[float, float, float]


def as_tuple(v: Vector) -> tuple[float, ...]:
    return tuple(v.tolist()) if isinstance(v, np.ndarray) else tuple(float(x) for x in v)


def quat_mul_t(a: Sequence[float], b: Sequence[float]) -> Quat:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def quat_conj_t(q: Sequence[float]) -> Quat:
    w, x, y, z = q
    return (w, -x, -y, -z)


def quat_normalize_t(q: Sequence[float]) -> Quat:
    w, x, y, z = q
    norm = math.sqrt(w * w + x * x + y * y + z * z)
    return (w / norm, x / norm, y / norm, z / norm)


def quat_from_rotvec_t(rotvec: Sequence[float]) -> Quat:
    x, y, z = rotvec
    angle = math.sqrt(x * x + y * y + z * z)
    if angle < 1e-12:
        return quat_normalize_t((1.0, 0.5 * x, 0.5 * y, 0.5 * z))
    scale = math.sin(angle / 2) / angle
    return (math.cos(angle / 2), x * scale, y * scale, z * scale)


def rotvec_from_quat_t(q: Sequence[float]) -> Vec3:
    """Rotation vector (axis * angle, angle in [0, pi]) of a unit quaternion."""
    w, x, y, z = q
    if w < 0:
        w, x, y, z = -w, -x, -y, -z
    sin_half = math.sqrt(x * x + y * y + z * z)
    if sin_half < 1e-12:
        return (2.0 * x, 2.0 * y, 2.0 * z)
    scale = 2.0 * math.atan2(sin_half, w) / sin_half
    return (x * scale, y * scale, z * scale)


def rotation_between_t(q_from: Sequence[float], q_to: Sequence[float]) -> Vec3:
    """Rotation vector r, in the base frame, with quat_from_rotvec(r) * q_from == q_to."""
    return rotvec_from_quat_t(quat_mul_t(q_to, quat_conj_t(q_from)))


def quat_mul(a: Vector, b: Vector) -> np.ndarray:
    return np.array(quat_mul_t(as_tuple(a), as_tuple(b)))


def quat_conj(q: Vector) -> np.ndarray:
    return np.array(quat_conj_t(as_tuple(q)))


def quat_normalize(q: Vector) -> np.ndarray:
    return np.array(quat_normalize_t(as_tuple(q)))


def quat_from_rotvec(rotvec: Vector) -> np.ndarray:
    return np.array(quat_from_rotvec_t(as_tuple(rotvec)))


def rotvec_from_quat(q: Vector) -> np.ndarray:
    """Rotation vector (axis * angle, angle in [0, pi]) of a unit quaternion."""
    return np.array(rotvec_from_quat_t(as_tuple(q)))


def rotation_between(q_from: Vector, q_to: Vector) -> np.ndarray:
    """Rotation vector r, in the base frame, with quat_from_rotvec(r) * q_from == q_to."""
    return np.array(rotation_between_t(as_tuple(q_from), as_tuple(q_to)))


def quat_to_matrix(q: Vector) -> np.ndarray:
    w, x, y, z = as_tuple(q)
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
