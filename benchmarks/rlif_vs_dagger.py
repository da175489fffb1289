"""RLIF against HG-DAgger, DAgger, behaviour cloning and the RLPD oracle on the simulated pick task
(full cube range), at three expert levels, several seeds each: the paper's Table 1 reproduced.

    python benchmarks/rlif_vs_dagger.py --setting state       # the state-based sweep
    python benchmarks/rlif_vs_dagger.py --setting image --levels poor --methods rlif rlif_bc hg_dagger bc

Every option: `--help`. A sweep is made of small runs, each kept as a JSON file under `--out`;
run the same command again after a kill to continue. The table, curves and summary go to
`--report` (docs/results by default). See docs/results/README.md.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("MUJOCO_GL", "egl")

import tyro  # noqa: E402

from rlif.comparison.settings import SweepConfig  # noqa: E402
from rlif.comparison.sweep import run_sweep  # noqa: E402


def main() -> int:
    config = tyro.cli(SweepConfig, description=__doc__)
    command = shlex.join(["python", "benchmarks/rlif_vs_dagger.py", *sys.argv[1:]])
    return run_sweep(config, command)


if __name__ == "__main__":
    sys.exit(main())
