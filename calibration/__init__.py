"""Calibration: built by a later issue."""
