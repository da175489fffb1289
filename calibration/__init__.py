"""Calibration against a running robot server (`rlif calibrate intrinsics|handeye|workspace|crops`):
camera intrinsics and hand-eye poses from a ChArUco board, the workspace box, the policy's crops.
See docs/calibration.md."""
