"""Writing what calibration found: the camera calibration file (one entry per camera, the other
cameras' entries kept), the limits file and the server's views. Every file is written to a
temporary name, read back by the server's own loader, then moved into place: a file the server
would refuse is never left behind."""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robot_server.camera_calibration import load_calibration_file


def plain(value: Any) -> Any:
    """numpy arrays and numbers as lists and floats, tuples as lists, recursively (what YAML holds)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.floating | np.integer):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def write_checked(path: Path, text: str, check: Callable[[Path], object]) -> None:
    """Write `text` to `path` atomically, after `check` (a loader that raises) accepted it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        check(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_mapping(path: Path) -> dict[str, Any]:
    """The YAML mapping in `path`, or an empty one when there is no file."""
    if not Path(path).exists():
        return {}
    loaded = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(loaded, dict):
        raise ValueError(f"{path} holds no mapping; choose another --output")
    return loaded


def update_camera(path: Path, camera: str, entries: dict[str, Any], what: str) -> None:
    """Set `entries` (e.g. intrinsics, or extrinsics and handeye) of `camera` in the calibration file."""
    document = read_mapping(path)
    cameras = document.setdefault("cameras", {})
    cameras.setdefault(camera, {}).update(plain(entries))
    header = (
        f"# Camera calibration for the robot server (`rlif server --calibration {Path(path).name}`).\n"
        f"# Last change: {what} of {camera!r}, {now()}, by `rlif calibrate`.\n"
    )
    write_checked(
        path, header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None), load_calibration_file
    )
