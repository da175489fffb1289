"""Operators: SpaceMouse and keyboard teleoperation, and simulated operators."""
