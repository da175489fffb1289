"""Policy snapshots along a run: the learner writes one at its start and at every checkpoint into
run_dir/policies, named by the environment steps and updates they were trained on, so that a run
can be evaluated afterwards at several points (`rlif sim` does, for its policy-alone curve)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

POLICY_FILE = "policy.npz"
"""The name of a run folder's newest policy (`rlif learner` and `rlif train` write it), for `rlif eval --policy`."""
SNAPSHOT_FOLDER = "policies"
_NAME = re.compile(r"^policy_steps(\d+)_updates(\d+)\.npz$")


@dataclass(frozen=True)
class Snapshot:
    path: Path
    env_steps: int
    updates: int
    wall_time: float
    """When it was written (seconds since the epoch)."""


def snapshot_path(run_dir: Path, env_steps: int, updates: int) -> Path:
    folder = run_dir / SNAPSHOT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"policy_steps{env_steps:09d}_updates{updates:09d}.npz"


def list_snapshots(run_dir: Path) -> list[Snapshot]:
    """The run's snapshots in training order (one per distinct update count)."""
    found: dict[int, Snapshot] = {}
    folder = run_dir / SNAPSHOT_FOLDER
    for path in sorted(folder.glob("policy_*.npz")) if folder.exists() else []:
        match = _NAME.match(path.name)
        if match:
            steps, updates = int(match[1]), int(match[2])
            found[updates] = Snapshot(path, steps, updates, path.stat().st_mtime)
    return [found[updates] for updates in sorted(found)]


def pick_evenly(snapshots: list[Snapshot], count: int) -> list[Snapshot]:
    """At most `count` snapshots spread evenly over the environment steps, first and last included."""
    if count <= 0 or not snapshots:
        return []
    if count == 1 or len(snapshots) <= count:
        return snapshots[-count:] if count < len(snapshots) else list(snapshots)
    first, last = snapshots[0].env_steps, snapshots[-1].env_steps
    picked: list[Snapshot] = []
    for index in range(count):
        target = first + (last - first) * index / (count - 1)
        nearest = min(snapshots, key=lambda s: abs(s.env_steps - target))
        if nearest not in picked:
            picked.append(nearest)
    return sorted(picked, key=lambda s: s.updates)


def final_policy(run_dir: Path) -> Path:
    """The run's newest policy: run_dir/policy.npz, else its newest snapshot."""
    newest = run_dir / POLICY_FILE
    if newest.exists():
        return newest
    snapshots = list_snapshots(run_dir)
    if not snapshots:
        raise FileNotFoundError(
            f"{run_dir} holds no policy ({POLICY_FILE} or {SNAPSHOT_FOLDER}/): has its learner run?"
        )
    return snapshots[-1].path
