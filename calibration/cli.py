"""`rlif calibrate ACTION`: the entry of the calibration tools (light to import: the actions, and
OpenCV with them, load only when one runs)."""

from __future__ import annotations

import sys

from calibration.config import CalibrateConfig
from robot_server.client import RobotClient, RobotError, RobotUnavailable


def report(line: str) -> None:
    print(line, flush=True)


def calibrate(config: CalibrateConfig) -> int:
    """Runs one action; 1 (and nothing written) when the calibration cannot be made."""
    if config.action is None:
        print("rlif calibrate: name an action: intrinsics, handeye, workspace or crops (--help)", file=sys.stderr)
        return 2
    try:
        from calibration.arm_actions import run_crops, run_workspace
        from calibration.camera_actions import run_handeye, run_intrinsics
        from calibration.handeye import CalibrationError
    except ImportError as exc:
        print(
            f"rlif calibrate: {exc}; install the calibration extra (pip install -e '.[calibration]')", file=sys.stderr
        )
        return 2
    actions = {"intrinsics": run_intrinsics, "handeye": run_handeye, "workspace": run_workspace, "crops": run_crops}
    client = RobotClient(config.server, timeout=config.timeout)
    try:
        return actions[config.action](config, client, client.info(), report)
    except (CalibrationError, RobotError, RobotUnavailable, ValueError, OSError) as exc:
        print(f"rlif calibrate {config.action}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
