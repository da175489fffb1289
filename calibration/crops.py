"""The region of each camera the policy sees: a crop box per camera (from the settings or asked for
at the terminal), a preview PNG of it drawn on the full frame, and the server's `views` section."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from calibration.files import plain, read_mapping, write_checked
from robot_server.config import ServerConfig
from robot_server.images import ImagePipeline

Box = tuple[int, int, int, int]


def centred_square(height: int, width: int) -> Box:
    side = min(height, width)
    x0, y0 = (width - side) // 2, (height - side) // 2
    return (x0, y0, x0 + side, y0 + side)


def check_box(box: Box, height: int, width: int, camera: str) -> Box:
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise ValueError(f"crop {list(box)} of {camera!r} is not inside its {width}x{height} frame")
    return (x0, y0, x1, y1)


def ask_box(camera: str, height: int, width: int, ask: Callable[[str], str] = input) -> Box:
    """The operator's crop for `camera`, typed as x0 y0 x1 y1 (Enter: the largest centred square);
    asked again until it fits the frame."""
    default = centred_square(height, width)
    while True:
        try:
            answer = ask(
                f"{camera} ({width}x{height}): crop x0 y0 x1 y1 [Enter: {' '.join(map(str, default))}] "
            ).strip()
        except EOFError:
            raise ValueError(f"no crop given for {camera!r} (no terminal input): pass --crops.boxes") from None
        if not answer:
            return default
        try:
            values = [int(v) for v in answer.replace(",", " ").split()]
            if len(values) != 4:
                raise ValueError("give four numbers: x0 y0 x1 y1")
            return check_box((values[0], values[1], values[2], values[3]), height, width, camera)
        except ValueError as exc:
            print(f"  {exc}")


def preview(image: np.ndarray, box: Box, size: tuple[int, int], path: Path) -> None:
    """The full frame with the crop drawn on it, and beside it what the policy will see."""
    x0, y0, x1, y1 = box
    frame = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    seen = cv2.resize(frame[y0:y1, x0:x1], (size[1], size[0]), interpolation=cv2.INTER_AREA)
    thickness = max(1, min(frame.shape[:2]) // 160)
    cv2.rectangle(frame, (x0, y0), (x1 - 1, y1 - 1), (0, 255, 0), thickness)
    label = f"crop {x0},{y0},{x1},{y1} -> {size[1]}x{size[0]}"
    scale = max(0.25, frame.shape[1] / 1400)
    at = (x0 + 3, y0 + 3 + round(22 * scale))
    cv2.putText(frame, label, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 0), 1, cv2.LINE_AA)
    inset = np.zeros((frame.shape[0], seen.shape[1] + 8, 3), dtype=np.uint8)
    inset[: min(seen.shape[0], frame.shape[0]), 8:] = seen[: frame.shape[0]]
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.hstack([frame, inset])):
        raise OSError(f"could not write {path}")


def views_of(boxes: dict[str, Box], height: int, width: int) -> list[dict[str, Any]]:
    return [{"camera": name, "crop": list(box), "height": height, "width": width} for name, box in boxes.items()]


def write_views(path: Path, views: list[dict[str, Any]], sizes: dict[str, tuple[int, int]]) -> None:
    """Set `views` in the server's YAML at `path` (its other settings kept), checked as the server
    would check it against the cameras' frame sizes."""
    document = read_mapping(path)
    document["views"] = plain(views)

    def check(written: Path) -> None:
        loaded = yaml.safe_load(written.read_text())
        ImagePipeline(ServerConfig(views=tuple(loaded["views"])).views, sizes)

    header = "# Robot server settings (`rlif server --config FILE`); views written by `rlif calibrate crops`.\n"
    write_checked(path, header + yaml.safe_dump(document, sort_keys=False, default_flow_style=None), check)
