"""Settings of the simulated arm and its pick task, and of the simulated cameras; importable
without MuJoCo, so that configuration never loads the simulation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class SimConfig:
    """The simulated Panda, its physics and the pick task (`arm: {type: sim, ...}`)."""

    type: Literal["sim"] = "sim"
    """Backend name."""
    physics_dt: float = 0.002
    """Physics step, seconds (500 Hz); the impedance controller runs at this rate."""
    clip_period: float = 0.01
    """How often the clipped impedance error is refreshed, seconds (simulated)."""
    translational_stiffness: float = 2000.0
    """Impedance stiffness, N/m (franky and SERL use 2000 on the real arm)."""
    translational_damping: float = 110.0
    """Impedance damping, N s/m (about critical for the simulated arm's Cartesian mass)."""
    rotational_stiffness: float = 150.0
    """Impedance stiffness, N m/rad."""
    rotational_damping: float = 10.0
    """Impedance damping, N m s/rad."""
    clip_translation: float = 0.02
    """Largest translational error the spring sees per axis, metres (bounds contact force)."""
    clip_rotation: float = 0.1
    """Largest rotational error the spring sees, rad."""
    arm_noise: float = 0.05
    """Amplitude of the uniform joint noise of a randomised reset, rad."""
    cube_x: tuple[float, float] = (0.42, 0.58)
    """Range of the cube's x position at a randomised reset, metres."""
    cube_y: tuple[float, float] = (-0.12, 0.12)
    """Range of the cube's y position at a randomised reset, metres."""
    cube_yaw: tuple[float, float] = (-0.785, 0.785)
    """Range of the cube's yaw at a randomised reset, rad."""
    lift_height: float = 0.05
    """Success: the cube's lift above its resting height, metres, while both fingers hold it."""


@dataclass(frozen=True)
class SimCamerasConfig:
    """Cameras rendered from the simulated scene (`cameras: {type: sim, ...}`); needs the sim arm."""

    type: Literal["sim"] = "sim"
    """Backend name."""
    image_height: int = 128
    """Rendered image height, pixels."""
    image_width: int = 128
    """Rendered image width, pixels."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras to render, by name in the model."""
    camera_fps: float = 30.0
    """Real-time mode: how often frames are rendered (lockstep renders on demand)."""
