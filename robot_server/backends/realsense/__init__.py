"""Intel RealSense cameras through pyrealsense2: `RealSenseConfig` here, importable without
pyrealsense2; `backend.realsense_cameras` loads librealsense and opens the devices, and
`listing.list_cameras` describes those connected."""

from robot_server.backends.realsense.config import RealSenseCameraConfig, RealSenseConfig

__all__ = ["RealSenseCameraConfig", "RealSenseConfig"]
