"""Settings of `rlif calibrate` (importable without OpenCV, so the command table stays light)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import tyro

from teleop.stream import DEFAULT_COMMANDS
from wire.ports import SERVER, local

Action = Literal["intrinsics", "handeye", "workspace", "crops"]
DEFAULT_POSES = {"handeye": 24, "intrinsics": 40}
"""Views the pose sampler collects for each action unless `--sampler.poses` says otherwise."""
DEFAULT_OUTPUTS: dict[str, Path] = {
    "intrinsics": Path("camera_calibration.yaml"),
    "handeye": Path("camera_calibration.yaml"),
    "workspace": Path("limits.yaml"),
    "crops": Path("server_views.yaml"),
}
"""Where each action writes unless `--output` says otherwise."""


@dataclass(frozen=True)
class BoardConfig:
    """The ChArUco board, as printed (the simulated board's defaults)."""

    squares_x: int = 7
    """Squares along the board's x axis (across OpenCV's drawing of it)."""
    squares_y: int = 6
    """Squares along the board's y axis (down the drawing)."""
    square_length: float = 0.035
    """Side of a chessboard square, metres (measure the print)."""
    marker_length: float = 0.026
    """Side of an ArUco marker, metres (measure the print)."""
    dictionary: str = "DICT_4X4_50"
    """The markers' dictionary, by its cv2.aruco name."""
    legacy: bool = False
    """A board drawn by OpenCV before 4.6 (or by tools that copy it): `setLegacyPattern(True)`."""
    min_corners: int = 6
    """Fewest ChArUco corners for a view to count (they must also span an area, not a line)."""


@dataclass(frozen=True)
class SamplerConfig:
    """Where the arm goes to show the board to the camera (`--source auto`)."""

    poses: int | None = None
    """Views to collect (None: 24 for handeye; 40 for intrinsics, which needs more to pin down the
    focal lengths and the principal point)."""
    bootstrap: int = 5
    """Views taken close to the start pose before a first hand-eye estimate steers the rest."""
    bootstrap_step: float = 0.02
    """Largest translation of a bootstrap pose from the start pose, metres."""
    bootstrap_tilt: float = 0.12
    """Largest rotation of a bootstrap pose from the start orientation, rad."""
    tilt: float = 0.8
    """Largest rotation of a pose from the start orientation, rad."""
    distance_range: float = 0.25
    """Camera-to-board distance within this fraction of the start view's."""
    view_angle: float = 0.9
    """Largest angle between the board's normal and the camera's line of sight, rad."""
    image_margin: float = 0.06
    """Keep the whole board this fraction of the image size inside its edges."""
    box_margin: float = 0.02
    """Keep the TCP this far inside the server's workspace box, metres."""
    radius: float = 0.15
    """Keep the TCP within this distance of the start pose, metres."""
    reach: float = 0.72
    """Keep the flange within this distance of the shoulder (a conservative radius, well inside the
    Panda's 0.855 m: a stretched arm is near its elbow's limit and tracks poorly), metres."""
    shoulder: tuple[float, float, float] = (0.0, 0.0, 0.333)
    """The arm's shoulder (the Panda's joint 2 axis), base frame, metres."""
    flange_offset: float = 0.1034
    """TCP to flange along the tool axis, metres (the Franka Hand)."""
    cone_margin: float = 0.1
    """Keep the TCP this far inside the server's orientation cone, rad."""
    attempts: int = 3
    """Moves per wanted view before giving up (a view where the board is not seen is retried)."""
    seed: int = 0
    """Seed of the pose sampling."""


@dataclass(frozen=True)
class MotionConfig:
    """How the arm is moved to each pose and when it counts as still."""

    period: float = 0.1
    """Seconds between targets (lockstep: simulated seconds advanced per target)."""
    position_tolerance: float = 0.001
    """Metres from the target at which the arm has arrived."""
    rotation_tolerance: float = 0.005
    """Radians from the target at which the arm has arrived."""
    still_speed: float = 0.002
    """TCP speed (m/s; rad/s for turning) below which the arm is still."""
    timeout: float = 15.0
    """Seconds (simulated in lockstep) a move may take; then the arm's pose as it is counts."""


@dataclass(frozen=True)
class HandEyeConfig:
    """The hand-eye solve: its checks, outliers and held-out views."""

    setup: Literal["eye_in_hand", "eye_to_hand"] | None = None
    """eye_in_hand: camera on the hand, board fixed (its pose in the TCP frame); eye_to_hand: camera
    fixed, board held by the hand (its pose in the base frame). None: as the server reports the
    camera (a pose in the tcp frame: eye_in_hand; in the base frame: eye_to_hand)."""
    min_poses: int = 6
    """Fewest views with the board seen."""
    held_out: float = 0.25
    """Fraction of the views kept out of the solve to check it (at least 2)."""
    outlier_factor: float = 3.0
    """A view whose reprojection residual exceeds this many times the median is an outlier..."""
    outlier_floor: float = 1.0
    """...and exceeds this many pixels."""
    min_rotation: float = 0.05
    """Degenerate poses: fewer than two rotations between views about axes this far apart, rad, or
    with angles above this."""


@dataclass(frozen=True)
class WorkspaceConfig:
    """The workspace box recorded from the corners the operator drives the arm to."""

    corners: tuple[tuple[float, float, float], ...] = ()
    """`--source scripted`: TCP positions the arm is moved to and recorded, base frame, metres."""
    margin: float = 0.01
    """The box is shrunk this far inside the recorded positions, metres (negative: grown)."""
    min_side: float = 0.05
    """A box narrower than this on any axis is degenerate, metres."""
    shoulder: tuple[float, float, float] = (0.0, 0.0, 0.333)
    """The arm's shoulder (the Panda's joint 2 axis), base frame, metres."""
    reach: float = 0.80
    """Reach check, a conservative radius: every corner of the box, moved up to the flange by
    `flange_offset` along the reference orientation's tool axis, within this of the shoulder
    (the Panda reaches 0.855 m)."""
    flange_offset: float = 0.1034
    """TCP to flange along the tool axis, metres (the Franka Hand)."""


@dataclass(frozen=True)
class CropsConfig:
    """What part of each camera the policy sees."""

    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    """Crop per camera, x0 y0 x1 y1 in the full frame (x1, y1 excluded); a camera without one is
    asked for at the terminal (Enter: the largest centred square)."""
    height: int = 128
    """Output height of every view, pixels."""
    width: int = 128
    """Output width of every view, pixels."""
    preview_dir: Path = Path("crop_previews")
    """Where a PNG per camera shows the crop drawn on the full frame."""


@dataclass(frozen=True)
class CalibrateConfig:
    """`rlif calibrate intrinsics|handeye|workspace|crops` against a running robot server."""

    action: tyro.conf.Positional[Action | None] = None
    """intrinsics: a camera's intrinsics from ChArUco views; handeye: a camera's pose; workspace: the
    limits file's box from corners the arm is driven to; crops: the server's `views`."""
    server: str = local(SERVER)
    """Request address of the robot server."""
    camera: str = "wrist"
    """The camera to calibrate (intrinsics, handeye)."""
    cameras: tuple[str, ...] = ()
    """crops: the cameras to crop (default: all)."""
    source: Literal["auto", "teleop", "scripted"] = "auto"
    """How the arm gets to its poses. auto: the pose sampler (intrinsics, handeye); teleop: the
    operator drives with `rlif teleop` (space/left button: take a sample or corner, Enter/right
    button: done); scripted: `workspace.corners`."""
    output: Path | None = None
    """The file written (default: camera_calibration.yaml, limits.yaml or server_views.yaml); a
    calibration file keeps its other cameras' entries."""
    start: tuple[float, float, float] | None = None
    """intrinsics, handeye: first move the TCP here (base frame, metres; the limits' reference
    orientation), where the camera sees the board; None: start where the arm is."""
    intrinsics_file: Path | None = None
    """handeye: take the camera's intrinsics from this calibration file, not from the server."""
    distortion: Literal["none", "radial", "full"] = "radial"
    """intrinsics: the coefficients estimated (none; k1, k2; or k1, k2, p1, p2, k3)."""
    board: BoardConfig = field(default_factory=BoardConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    handeye: HandEyeConfig = field(default_factory=HandEyeConfig)
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    crops: CropsConfig = field(default_factory=CropsConfig)
    teleop: str = DEFAULT_COMMANDS
    """`--source teleop`: the address of the operator's command stream (`rlif teleop`)."""
    timeout: float = 10.0
    """Seconds each request to the server may take."""
