"""The server's image pipeline, the same for every camera backend: each camera's frame is cut to
its crop box and resized (area interpolation) to its output size, so that the policy gets
exactly the images it was trained on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ViewConfig:
    """What the policy sees of one camera (`views: [{camera: front, crop: [...], height: 128, ...}]`)."""

    camera: str
    """The camera's name."""
    crop: tuple[int, int, int, int] | None = None
    """Pixels of the frame to keep: x0, y0, x1, y1 (x1 and y1 excluded); None: the whole frame."""
    height: int | None = None
    """Output height, pixels; None: the crop's height."""
    width: int | None = None
    """Output width, pixels; None: the crop's width."""


class ImagePipeline:
    """Crops and resizes frames per camera; checked against the cameras' sizes when built."""

    def __init__(self, views: tuple[ViewConfig, ...], sizes: Mapping[str, tuple[int, int]]) -> None:
        self._boxes: dict[str, tuple[int, int, int, int]] = {}
        self.sizes: dict[str, tuple[int, int]] = dict(sizes)
        """(height, width) of each camera's images as served."""
        for view in views:
            if view.camera not in sizes:
                raise ValueError(f"views: no camera {view.camera!r}; the cameras are {sorted(sizes)}")
            if view.camera in self._boxes:
                raise ValueError(f"views: camera {view.camera!r} appears twice")
            height, width = sizes[view.camera]
            x0, y0, x1, y1 = view.crop if view.crop is not None else (0, 0, width, height)
            if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
                raise ValueError(
                    f"views: the crop {list(view.crop or ())} of {view.camera!r} "
                    f"is not inside its {width}x{height} frame"
                )
            out_height, out_width = view.height or (y1 - y0), view.width or (x1 - x0)
            if out_height <= 0 or out_width <= 0:
                raise ValueError(f"views: the output size of {view.camera!r} must be positive")
            self._boxes[view.camera] = (x0, y0, x1, y1)
            self.sizes[view.camera] = (out_height, out_width)

    def apply(self, camera: str, image: np.ndarray) -> np.ndarray:
        box = self._boxes.get(camera)
        if box is None:
            return image
        x0, y0, x1, y1 = box
        cut = image[y0:y1, x0:x1]
        height, width = self.sizes[camera]
        if cut.shape[:2] == (height, width):
            return np.ascontiguousarray(cut)
        return np.asarray(Image.fromarray(cut).resize((width, height), Image.Resampling.BOX))
