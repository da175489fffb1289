"""Settings of the simulated arm and its pick task, and of the simulated cameras; importable
without MuJoCo, so that configuration never loads the simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class SimBoardConfig:
    """A printed ChArUco calibration board in the simulated scene (`arm: {board: {mount: table}}`).

    The board's frame is OpenCV's: origin at the outer corner of the board image's top-left square,
    x along its `squares_x` squares, y along its `squares_y` squares, z into the board (away from
    the printed side); the site `calibration_board` marks it. The texture is drawn with `cv2.aruco`
    when the model is built (needs the `calibration` extra).
    """

    mount: Literal["none", "table", "hand"] = "none"
    """none: no board; table: lying on the table (eye-in-hand calibration of the wrist camera);
    hand: held by the hand, face up when the gripper points down (eye-to-hand: the front camera)."""
    squares_x: int = 7
    """Squares along the board's x axis."""
    squares_y: int = 6
    """Squares along the board's y axis."""
    square_length: float = 0.035
    """Side of a chessboard square, metres."""
    marker_length: float = 0.026
    """Side of an ArUco marker, metres."""
    dictionary: str = "DICT_4X4_50"
    """The markers' dictionary, by its `cv2.aruco` name."""
    legacy: bool = False
    """Draw the board as OpenCV before 4.6 did (`setLegacyPattern`), as many printed boards are."""
    table_position: tuple[float, float, float] = (0.34, 0.0, 0.0005)
    """mount table: where the board's centre lies, world frame, metres (printed side up)."""
    table_yaw: float = 0.0
    """mount table: turn of the board about the vertical, rad (0: its x along the world's x)."""
    hand_position: tuple[float, float, float] = (0.17, 0.0, 0.005)
    """mount hand: where the board's centre is in the TCP frame, metres (x: ahead of the fingers;
    the board lies in the TCP's x-y plane, its x along the TCP's x)."""
    pixels_per_square: int = 96
    """Texture resolution."""


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
    scene_range: float = 1.0
    """Fraction of the cube's placement ranges (`cube_x`, `cube_y`, `cube_yaw`) a randomised reset
    draws from, about their centres: 1.0 is the full task (`rlif sim` uses 0.4)."""
    lift_height: float = 0.05
    """Success: the cube's lift above its resting height, metres, while both fingers hold it."""
    board: SimBoardConfig = field(default_factory=SimBoardConfig)
    """An optional ChArUco calibration board in the scene (off by default)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.scene_range <= 1.0:
            raise ValueError(
                f"arm.scene_range is a fraction of the cube's placement ranges (0 to 1), got {self.scene_range}"
            )

    def cube_ranges(self) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
        """The (x, y, yaw) ranges a randomised reset draws the cube from: `scene_range` of each
        configured range, about its centre."""
        return (
            _shrunk(self.cube_x, self.scene_range),
            _shrunk(self.cube_y, self.scene_range),
            _shrunk(self.cube_yaw, self.scene_range),
        )


def _shrunk(bounds: tuple[float, float], fraction: float) -> tuple[float, float]:
    low, high = bounds
    centre, half = (low + high) / 2, (high - low) / 2 * fraction
    return centre - half, centre + half


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
