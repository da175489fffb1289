"""Arm and camera backends behind the narrow interfaces of `robot_server.backends.base`."""
