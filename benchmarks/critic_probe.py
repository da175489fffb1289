"""Train one state-based comparison run, then print what its critics prefer on each buffer's
states, as one JSON line (see rlif/comparison/probe.py):

    python benchmarks/critic_probe.py --method rlpd --level good --sweep.env-steps 3000

`--sweep.*` are the comparison sweep's options (`benchmarks/rlif_vs_dagger.py --help`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("MUJOCO_GL", "egl")

import tyro  # noqa: E402

from rlif.comparison.probe import probe  # noqa: E402
from rlif.comparison.settings import RunSpec, SweepConfig  # noqa: E402


@dataclass(frozen=True)
class ProbeConfig:
    """One run of the sweep to train and probe."""

    method: str = "rlpd"
    """rlif, rlif_bc or rlpd (the methods with critics)."""
    level: str = "good"
    """Expert level of the operator and the demonstrations."""
    seed: int = 0
    """Seed of the run."""
    sweep: SweepConfig = dataclasses.field(
        default_factory=lambda: SweepConfig(out=Path("runs/critic_probe"), report=None, eval_points=1)
    )
    """The sweep's settings (its demonstrations are kept under `sweep.out`)."""


def main() -> int:
    config = tyro.cli(ProbeConfig, description=__doc__)
    print(json.dumps(probe(config.sweep, RunSpec(config.level, config.method, config.seed))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
