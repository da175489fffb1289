"""A ChArUco calibration board in the simulated scene: its texture drawn with `cv2.aruco` when the
model is built (nothing binary in the repository), on a thin plate lying on the table or held by
the hand, with a site `calibration_board` at the board's frame (the ground truth of tests).

The plate is a mesh whose printed face carries the whole board image exactly once (explicit
texture coordinates), so a board corner's place in the scene is the printed one to the texel.
"""

from __future__ import annotations

import math

import mujoco
import numpy as np

from robot_server.backends.mujoco_sim.config import SimBoardConfig

BOARD = "calibration_board"
"""Name of the board's geom, site, mesh, material and texture."""
THICKNESS = 0.003
"""Plate thickness, metres (behind the printed face)."""


def board_image(config: SimBoardConfig) -> np.ndarray:
    """The printed board, uint8 grey, `pixels_per_square` per square and no margin."""
    import cv2  # the calibration extra; only a scene with a board needs it

    try:
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, config.dictionary))
    except AttributeError:
        raise ValueError(f"board: unknown ArUco dictionary {config.dictionary!r}") from None
    board = cv2.aruco.CharucoBoard(
        (config.squares_x, config.squares_y), config.square_length, config.marker_length, dictionary
    )
    board.setLegacyPattern(config.legacy)
    size = (config.squares_x * config.pixels_per_square, config.squares_y * config.pixels_per_square)
    return np.asarray(board.generateImage(size, marginSize=0, borderBits=1), dtype=np.uint8)


def _check(config: SimBoardConfig) -> None:
    if config.squares_x < 2 or config.squares_y < 2:
        raise ValueError("board: squares_x and squares_y must be at least 2")
    if not 0 < config.marker_length < config.square_length:
        raise ValueError("board: marker_length must be positive and below square_length")
    if config.pixels_per_square < 16:
        raise ValueError("board: pixels_per_square must be at least 16")


def _plate(width: float, height: float) -> tuple[list[float], list[int], list[float]]:
    """Vertices, faces and texture coordinates of a plate whose face z=0 shows the image (row 0 at y=0)."""
    corners = [(0.0, 0.0), (width, 0.0), (width, height), (0.0, height)]
    vertices = [v for z in (0.0, THICKNESS) for x, y in corners for v in (x, y, z)]
    texcoords = [t for _ in range(2) for u, v in ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)) for t in (u, v)]
    faces = [0, 2, 1, 0, 3, 2, 4, 5, 6, 4, 6, 7]  # the printed face looks along -z
    for a in range(4):
        b = (a + 1) % 4
        faces += [a, b, b + 4, a, b + 4, a + 4]
    return vertices, faces, texcoords


def _frame(spec: mujoco.MjSpec, config: SimBoardConfig) -> tuple[mujoco.MjsBody, np.ndarray, np.ndarray]:
    """The body the board is fixed to, and the board frame's position and quaternion in it."""
    half_size = np.array([config.squares_x, config.squares_y, 0.0]) * config.square_length / 2
    if config.mount == "table":
        half = config.table_yaw / 2
        # Printed side up: the board's z points down; then turned about the vertical.
        turn = np.array([math.cos(half), 0.0, 0.0, math.sin(half)])
        flip = np.array([0.0, 1.0, 0.0, 0.0])
        quat = np.empty(4)
        mujoco.mju_mulQuat(quat, turn, flip)
        body, centre = spec.worldbody, np.array(config.table_position, dtype=float)
    else:
        tcp = spec.site("tcp")
        body, quat = tcp.parent, np.array(tcp.quat, dtype=float)
        offset = np.empty(3)
        mujoco.mju_rotVecQuat(offset, np.array(config.hand_position, dtype=float), quat)
        centre = np.array(tcp.pos, dtype=float) + offset
    to_origin = np.empty(3)
    mujoco.mju_rotVecQuat(to_origin, -half_size, quat)
    return body, centre + to_origin, quat


def add_board(spec: mujoco.MjSpec, config: SimBoardConfig) -> None:
    """Put the board `config` describes into `spec` (nothing when its mount is none)."""
    if config.mount == "none":
        return
    _check(config)
    image = board_image(config)
    texture = spec.add_texture(
        name=BOARD, type=mujoco.mjtTexture.mjTEXTURE_2D, width=image.shape[1], height=image.shape[0], nchannel=3
    )
    texture.data = np.repeat(image[:, :, None], 3, axis=2).tobytes()
    material = spec.add_material(name=BOARD, specular=0.0, shininess=0.0)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = BOARD
    width, height = config.squares_x * config.square_length, config.squares_y * config.square_length
    vertices, faces, texcoords = _plate(width, height)
    spec.add_mesh(name=BOARD, uservert=vertices, userface=faces, usertexcoord=texcoords)
    body, position, quat = _frame(spec, config)
    body.add_geom(
        name=BOARD,
        type=mujoco.mjtGeom.mjGEOM_MESH,
        meshname=BOARD,
        material=BOARD,
        pos=position,
        quat=quat,
        contype=0,
        conaffinity=0,
        mass=0.0,
    )
    body.add_site(name=BOARD, pos=position, quat=quat, size=[0.005, 0.005, 0.005], group=4)
