"""Episode videos: a playable MP4 with the controller drawn on every frame."""

from __future__ import annotations

import av
import numpy as np

from actor.video import OPERATOR_COLOUR, EpisodeVideo, annotate


def test_annotation_marks_who_is_in_control() -> None:
    images = {"front": np.full((64, 64, 3), 128, np.uint8), "wrist": np.full((64, 64, 3), 60, np.uint8)}
    operator = annotate(images, intervened=True, caption="step 3")
    policy = annotate(images, intervened=False, caption="step 3")
    assert operator.shape == (78, 128, 3)
    assert tuple(operator[20, 0]) == OPERATOR_COLOUR
    assert tuple(policy[20, 0]) != OPERATOR_COLOUR
    assert tuple(operator[40, 40]) == (128, 128, 128) and tuple(operator[40, 100]) == (60, 60, 60)


def test_video_is_readable_with_every_frame(tmp_path) -> None:
    video = EpisodeVideo(tmp_path / "episode.mp4", fps=10)
    rng = np.random.default_rng(0)
    for step in range(25):
        images = {"front": rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)}
        video.add(images, intervened=10 <= step < 15, caption=f"step {step}")
    path = video.close()
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 25
    red = frames[12][30, 0].astype(int)
    assert red[0] > 150 and red[1] < 100  # the operator's border survived encoding
