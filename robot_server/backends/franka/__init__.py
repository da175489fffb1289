"""The Franka arm through franky-control (libfranka): `FrankaArmConfig` here, importable without
franky; `backend.FrankaBackend` loads franky and connects."""

from robot_server.backends.franka.config import FrankaArmConfig

__all__ = ["FrankaArmConfig"]
