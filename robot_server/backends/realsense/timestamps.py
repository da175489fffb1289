"""A frame's capture time on the host's monotonic clock, from librealsense's timestamp.

librealsense stamps each frame in one of three domains (`frame.get_frame_timestamp_domain()`):

- `system_time`: the host's wall clock (`time.time()`) in milliseconds, taken when the frame
  reached the host (devices without hardware timestamps);
- `global_time`: the device's hardware clock mapped onto the host's wall clock in milliseconds
  (D400 default, `option.global_time_enabled`): the capture time, without the USB delay;
- `hardware_clock`: the device's own clock in milliseconds, with an unknown origin.

Wall-clock stamps become monotonic with the offset `time.time() - time.monotonic()` measured
when the frame arrives (so a step of the wall clock moves the offset with it). A stamp in the
future, or more than `MAX_DELAY` before the frame's arrival, cannot be a capture time on this
host (a clock step, a recording's old stamps): the arrival time stands in for it, as it does for
hardware-clock stamps and for every frame of a recording.
"""

from __future__ import annotations

import time

HOST_CLOCK_DOMAINS = frozenset({"system_time", "global_time"})
"""Domains whose stamps are the host's wall clock, milliseconds."""
MAX_DELAY = 1.0
"""Seconds between capture and arrival beyond which a wall-clock stamp is not trusted."""


def wall_minus_monotonic() -> float:
    """The offset from the host's monotonic clock to its wall clock, seconds."""
    return time.time() - time.monotonic()


def host_capture_time(domain: str, device_ms: float, arrival: float, offset: float, recorded: bool = False) -> float:
    """The monotonic capture time of a frame stamped `device_ms` in `domain` (its name, e.g.
    `system_time`) that arrived at monotonic time `arrival`, with `offset` from
    `wall_minus_monotonic()`; `recorded`: the frame comes from a recording."""
    if recorded or domain not in HOST_CLOCK_DOMAINS:
        return arrival
    capture = device_ms / 1000.0 - offset
    if arrival - MAX_DELAY <= capture <= arrival:
        return capture
    return arrival
