"""Learner: built by a later issue."""
