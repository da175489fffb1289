"""What the 7-D normalised action means by default: metres and radians per unit action, per
control period. The robot server scales actions by its configured `action_scale` (reported in
`info`); these are the defaults that it and the scripted experts share."""

TRANSLATION_SCALE = 0.03
"""Metres of TCP translation per unit action, per axis."""
ROTATION_SCALE = 0.15
"""Radians of TCP rotation per unit action, per axis (rotation vector, base frame)."""
