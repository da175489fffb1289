"""The ChArUco board: finding its corners in an image and the board's pose in the camera."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from calibration.config import BoardConfig
from robot_server.backends.camera_model import Intrinsics

MIN_SPAN = 0.25
"""The corners of a view must cover at least this fraction of the board's inner area (their
bounding box), so that a pose from them is not a guess along a row."""


@dataclass(frozen=True)
class BoardView:
    """The board's corners found in one image."""

    ids: np.ndarray
    """ChArUco corner ids (N,)."""
    image_points: np.ndarray
    """Their pixel positions (N, 2), float32."""
    object_points: np.ndarray
    """Their positions on the board (N, 3), metres, board frame (z = 0)."""


def camera_matrix(intrinsics: Intrinsics) -> np.ndarray:
    return np.array([[intrinsics.fx, 0.0, intrinsics.cx], [0.0, intrinsics.fy, intrinsics.cy], [0.0, 0.0, 1.0]])


def distortion_vector(intrinsics: Intrinsics) -> np.ndarray:
    """OpenCV's coefficients; librealsense's inverse model has no OpenCV equivalent (none used)."""
    if intrinsics.model.startswith("inverse") or not intrinsics.distortion:
        return np.zeros(5)
    return np.asarray(intrinsics.distortion, dtype=float)


class Charuco:
    """One board's geometry and detector."""

    def __init__(self, config: BoardConfig) -> None:
        if config.squares_x < 3 or config.squares_y < 3:
            raise ValueError("board: squares_x and squares_y must be at least 3")
        if not 0 < config.marker_length < config.square_length:
            raise ValueError("board: marker_length must be positive and below square_length")
        name = config.dictionary
        if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
            raise ValueError(f"board: unknown ArUco dictionary {name!r} (e.g. DICT_4X4_50)")
        self.config = config
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        self.board = cv2.aruco.CharucoBoard(
            (config.squares_x, config.squares_y), config.square_length, config.marker_length, dictionary
        )
        self.board.setLegacyPattern(config.legacy)
        self.detector = cv2.aruco.CharucoDetector(self.board)
        self.markers = cv2.aruco.ArucoDetector(dictionary, self.detector.getDetectorParameters())
        self.corners = np.asarray(self.board.getChessboardCorners(), dtype=np.float64)
        """Every inner corner on the board (M, 3), by id."""
        self.centre = self.corners.mean(axis=0)
        """The middle of the inner corners, board frame."""

    def detect(self, image: np.ndarray) -> BoardView | None:
        """The corners seen in an RGB (or grey) image; None when too few, or all along a line."""
        grey = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image)
        markers, marker_ids, _ = self.markers.detectMarkers(grey)
        if marker_ids is None:
            return None
        # A marker id seen twice is a false detection somewhere (small dictionaries match clutter
        # now and then) and makes OpenCV drop the whole board: both are left out.
        marker_ids = marker_ids.ravel()
        values, counts = np.unique(marker_ids, return_counts=True)
        single = np.flatnonzero(np.isin(marker_ids, values[counts == 1]))
        if not len(single):
            return None
        corners, ids, _, _ = self.detector.detectBoard(
            grey, markerCorners=tuple(markers[int(i)] for i in single), markerIds=marker_ids[single].reshape(-1, 1)
        )
        if ids is None or len(ids) < self.config.min_corners:
            return None
        ids = ids.ravel().astype(int)
        object_points = self.corners[ids]
        if not self._spread(object_points):
            return None
        return BoardView(ids, corners.reshape(-1, 2).astype(np.float32), object_points)

    def _spread(self, points: np.ndarray) -> bool:
        extent = points[:, :2].max(axis=0) - points[:, :2].min(axis=0)
        full = self.corners[:, :2].max(axis=0) - self.corners[:, :2].min(axis=0)
        return bool(extent[0] * extent[1] >= MIN_SPAN * full[0] * full[1])

    def pose(self, view: BoardView, intrinsics: Intrinsics) -> tuple[np.ndarray, float]:
        """The board's pose in the camera (T_cam_board, 4x4) and its reprojection RMS, pixels."""
        matrix, distortion = camera_matrix(intrinsics), distortion_vector(intrinsics)
        ok, rvec, tvec = cv2.solvePnP(
            view.object_points, view.image_points, matrix, distortion, flags=cv2.SOLVEPNP_IPPE
        )
        if not ok:
            raise ValueError("solvePnP found no board pose")
        rvec, tvec = cv2.solvePnPRefineLM(view.object_points, view.image_points, matrix, distortion, rvec, tvec)
        transform = np.eye(4)
        transform[:3, :3] = cv2.Rodrigues(rvec)[0]
        transform[:3, 3] = tvec.ravel()
        return transform, reprojection_rms(view, transform, intrinsics)


def project(points: np.ndarray, cam_from_board: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    """Pixel positions (N, 2) of board points seen from a camera whose pose the transform gives."""
    rvec = cv2.Rodrigues(cam_from_board[:3, :3])[0]
    pixels, _ = cv2.projectPoints(
        np.asarray(points, dtype=np.float64),
        rvec,
        cam_from_board[:3, 3],
        camera_matrix(intrinsics),
        distortion_vector(intrinsics),
    )
    return np.asarray(pixels).reshape(-1, 2)


def reprojection_rms(view: BoardView, cam_from_board: np.ndarray, intrinsics: Intrinsics) -> float:
    """RMS distance between the corners found and those projected through the pose, pixels."""
    predicted = project(view.object_points, cam_from_board, intrinsics)
    return float(np.sqrt(np.mean(np.sum((predicted - view.image_points) ** 2, axis=1))))
