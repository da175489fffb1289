"""Rigid transforms as 4x4 matrices: T_a_b maps points in frame b to frame a (the pose of b in a).

Quaternions are [w, x, y, z], as on the wire (`wire.geometry`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from wire.geometry import quat_to_matrix


def pose_matrix(position: Sequence[float] | np.ndarray, quat: Sequence[float] | np.ndarray) -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = quat_to_matrix(quat)
    transform[:3, 3] = np.asarray(position, dtype=float)
    return transform


def from_rotation(rotation: np.ndarray, translation: Sequence[float] | np.ndarray) -> np.ndarray:
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = np.asarray(translation, dtype=float).ravel()
    return transform


def invert(transform: np.ndarray) -> np.ndarray:
    rotation = transform[:3, :3]
    return from_rotation(rotation.T, -rotation.T @ transform[:3, 3])


def quat_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """The unit quaternion [w, x, y, z] (w >= 0) of a rotation matrix."""
    m = rotation
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [s / 4, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4]
    quat = np.array(q) / np.linalg.norm(q)
    return -quat if quat[0] < 0 else quat


def position_quat(transform: np.ndarray) -> tuple[list[float], list[float]]:
    """(position, quaternion [w, x, y, z]) of a transform, as plain lists."""
    return transform[:3, 3].tolist(), quat_from_matrix(transform[:3, :3]).tolist()


def rotation_from_rotvec(rotvec: Sequence[float] | np.ndarray) -> np.ndarray:
    """Rodrigues' formula."""
    vector = np.asarray(rotvec, dtype=float)
    angle = float(np.linalg.norm(vector))
    if angle < 1e-12:
        return np.eye(3)
    k = vector / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def rotvec_from_rotation(rotation: np.ndarray) -> np.ndarray:
    quat = quat_from_matrix(rotation)
    half = math.atan2(float(np.linalg.norm(quat[1:])), float(quat[0]))
    norm = float(np.linalg.norm(quat[1:]))
    return np.zeros(3) if norm < 1e-12 else quat[1:] / norm * 2 * half


def rotation_angle(rotation: np.ndarray) -> float:
    """The angle of a rotation matrix, rad, in [0, pi]."""
    return float(math.acos(min(1.0, max(-1.0, (float(np.trace(rotation)) - 1) / 2))))


def angle_between(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation from transform (or rotation) a to b, rad."""
    return rotation_angle(a[:3, :3].T @ b[:3, :3])


def mean_transform(transforms: Sequence[np.ndarray]) -> np.ndarray:
    """The mean translation and the rotation nearest (Frobenius) to the mean rotation matrix."""
    stacked = np.stack(transforms)
    u, _, vt = np.linalg.svd(stacked[:, :3, :3].sum(axis=0))
    rotation = u @ vt
    if np.linalg.det(rotation) < 0:
        u[:, -1] *= -1
        rotation = u @ vt
    return from_rotation(rotation, stacked[:, :3, 3].mean(axis=0))


def random_rotvec(rng: np.random.Generator, max_angle: float) -> np.ndarray:
    """A rotation vector with a uniformly random axis and an angle uniform in [0, max_angle]."""
    axis = rng.normal(size=3)
    return axis / np.linalg.norm(axis) * rng.uniform(0.0, max_angle)
