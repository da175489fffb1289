"""MP4 videos of an episode's cameras, side by side, with who was in control drawn on them:
a red frame and "OPERATOR" while the operator intervened, a thin green one for the policy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

OPERATOR_COLOUR = (230, 30, 30)
POLICY_COLOUR = (30, 190, 60)


def annotate(images: Mapping[str, np.ndarray], intervened: bool, caption: str) -> np.ndarray:
    """The cameras (sorted by name) side by side, with a control border and a caption strip."""
    row = np.concatenate([np.asarray(images[name], dtype=np.uint8) for name in sorted(images)], axis=1)
    height, width = row.shape[:2]
    border = max(2, height // 32) if intervened else max(1, height // 64)
    colour = OPERATOR_COLOUR if intervened else POLICY_COLOUR
    canvas = Image.new("RGB", (width, height + 14), (0, 0, 0))
    canvas.paste(Image.fromarray(row), (0, 14))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, 14, width - 1, height + 13], outline=colour, width=border)
    draw.text((3, 1), ("OPERATOR  " if intervened else "policy  ") + caption, fill=colour)
    frame = np.asarray(canvas)
    # H.264 wants even sizes.
    return frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]


class EpisodeVideo:
    """Writes annotated frames to an MP4 (H.264) file."""

    def __init__(self, path: Path | str, fps: int = 10) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self._container = av.open(str(self.path), mode="w")
        self._stream: av.video.stream.VideoStream | None = None
        self.frames = 0

    def add(self, images: Mapping[str, np.ndarray], intervened: bool, caption: str = "") -> None:
        frame = annotate(images, intervened, caption)
        if self._stream is None:
            self._stream = self._container.add_stream("libx264", rate=self.fps)
            self._stream.height, self._stream.width = frame.shape[:2]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"crf": "20"}
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()
        return self.path
