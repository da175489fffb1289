"""What each algorithm learns from: which buffer a transition goes to, which buffers are sampled.

| algorithm   | learns                            | online           | intervention   | demos | sampled             |
|-------------|-----------------------------------|------------------|----------------|-------|---------------------|
| `rlif`      | SAC on intervention labels        | policy steps     | operator steps | prior | all three           |
| `rlpd`      | SAC on the sparse task reward     | policy steps     | operator steps | prior | all three           |
| `hg_dagger` | BC on aggregated operator actions | policy (unused)  | operator steps | prior | intervention, demos |
| `dagger`    | BC on expert labels of all states | every step, relabelled | (none)   | prior | online, demos       |
| `bc`        | BC on demonstrations              | policy (unused)  | (unused)       | prior | demos               |

The buffers: online, intervention and demos; prior data are demonstrations and other offline episodes.

Each batch takes `LearnerConfig.intervention_fraction` of its rows from the operator's steps and
the demonstrations together (RLPD's symmetric sampling: half), and `demo_fraction` of those from
the demonstrations; the share of a buffer that is empty or not sampled goes to the others.
DAgger's labels come from a relabel function over each recorded
episode (by default the episode's `expert_action` array, which a simulated actor records from
the privileged state), or with each streamed step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from learner.config import Algorithm, ImitatedRows
from wire.records import EpisodeRecord, RecordError

ONLINE, INTERVENTION, DEMOS = "online", "intervention", "demos"
BUFFERS = (ONLINE, INTERVENTION, DEMOS)
EXPERT_ACTION = "expert_action"

Relabel = Callable[[EpisodeRecord], np.ndarray]
"""Expert action labels (T, action_dim) for every step of an episode (DAgger)."""


def buffer_for(algorithm: Algorithm, *, intervened: bool, prior: bool) -> str:
    """The buffer a transition goes to: prior data (demonstrations) to the demos buffer, operator
    steps to the intervention buffer, policy steps (and, for DAgger, every relabelled step) to the
    online one."""
    if prior:
        return DEMOS
    if algorithm == "dagger":
        return ONLINE
    return INTERVENTION if intervened else ONLINE


def sampled_buffers(algorithm: Algorithm) -> tuple[str, ...]:
    if algorithm == "hg_dagger":
        return (INTERVENTION, DEMOS)
    if algorithm == "bc":
        return (DEMOS,)
    if algorithm == "dagger":
        return (ONLINE, DEMOS)
    return BUFFERS


def imitated_buffers(rows: ImitatedRows) -> tuple[str, ...]:
    """The buffers whose rows the behaviour-cloning term of rlif/rlpd imitates (`bc_rows`)."""
    return {"demos": (DEMOS,), "operator": (INTERVENTION,), "both": (INTERVENTION, DEMOS)}[rows]


def recorded_expert_actions(record: EpisodeRecord) -> np.ndarray:
    """The default DAgger relabel: the episode's `expert_action` array (T, A), recorded by an
    actor that could query the expert at every step."""
    labels = record.arrays.get(EXPERT_ACTION)
    if labels is None:
        raise RecordError(
            f"episode {record.meta.get('episode_id')!r} has no '{EXPERT_ACTION}' array: DAgger needs "
            "expert labels recorded with the episode, or a relabel function"
        )
    return labels
