"""The algorithms, one module each, and their table `ALGORITHMS` (by `LearnerConfig.algorithm`).

| algorithm   | learns                            | agent | policy   | operator     | prior | sampled             |
|-------------|-----------------------------------|-------|----------|--------------|-------|---------------------|
| `rlif`      | SAC on intervention labels        | SAC   | online   | intervention | demos | all three           |
| `rlpd`      | SAC on the sparse task reward     | SAC   | online   | intervention | demos | all three           |
| `hg_dagger` | BC on aggregated operator actions | BC    | online   | intervention | demos | intervention, demos |
| `dagger`    | BC on expert labels of all states | BC    | online * | online *     | demos | online, demos       |
| `bc`        | BC on demonstrations              | BC    | online   | intervention | demos | demos               |

policy / operator: where the steps the policy / the operator drove are stored; prior: where
demonstrations are. (* with the expert's label of the state in place of the executed action.)

Each module defines its `SPEC` (`learner.algorithms.spec.AlgorithmSpec`): its reward labelling,
the buffer each source of transitions is stored in, the buffers its batches come from (in the
shares of `learner.mixing`), and its agent (`learner.agents`). A new method is a module here, its
entry in `ALGORITHMS` and its name in `learner.config.Algorithm` (the command line's choices,
importable without torch).
"""

from __future__ import annotations

from learner.algorithms import bc, dagger, hg_dagger, rlif, rlpd
from learner.algorithms.spec import AlgorithmSpec
from learner.config import LearnerConfig
from learner.labels import RewardRule

ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec for spec in (rlif.SPEC, rlpd.SPEC, hg_dagger.SPEC, dagger.SPEC, bc.SPEC)
}


def algorithm_spec(config: LearnerConfig) -> AlgorithmSpec:
    """The spec of the settings' algorithm."""
    return ALGORITHMS[config.algorithm]


def reward_rule(config: LearnerConfig) -> RewardRule:
    """How the settings' algorithm labels rewards."""
    return algorithm_spec(config).rewards(config)
