"""What each algorithm learns from: which buffer a transition goes to, which buffers are sampled.

| algorithm   | learns                            | online buffer          | intervention buffer   | sampled      |
|-------------|-----------------------------------|------------------------|-----------------------|--------------|
| `rlif`      | SAC on intervention labels        | policy steps           | operator steps, demos | both, 50/50  |
| `rlpd`      | SAC on the sparse task reward     | policy steps           | operator steps, demos | both, 50/50  |
| `hg_dagger` | BC on aggregated operator actions | policy steps (unused)  | operator steps, demos | intervention |
| `dagger`    | BC on expert labels of all states | every step, relabelled | demos                 | both, 50/50  |
| `bc`        | BC on demonstrations              | rollouts (unused)      | demos                 | intervention |

The 50/50 split is `LearnerConfig.intervention_fraction`; while one sampled buffer is empty the
other fills the whole batch. DAgger's labels come from a relabel function over each recorded
episode (by default the episode's `expert_action` array, which a simulated actor records from
the privileged state), or with each streamed step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from learner.config import Algorithm
from wire.records import EpisodeRecord, RecordError

ONLINE, INTERVENTION = "online", "intervention"
EXPERT_ACTION = "expert_action"

Relabel = Callable[[EpisodeRecord], np.ndarray]
"""Expert action labels (T, action_dim) for every step of an episode (DAgger)."""


def buffer_for(algorithm: Algorithm, *, intervened: bool, prior: bool) -> str:
    """The buffer a transition goes to: prior data (demonstrations) and operator steps to the
    intervention buffer; policy steps (and, for DAgger, every relabelled step) to the online one."""
    if prior:
        return INTERVENTION
    if algorithm == "dagger":
        return ONLINE
    return INTERVENTION if intervened else ONLINE


def sampled_buffers(algorithm: Algorithm) -> tuple[str, ...]:
    if algorithm in ("hg_dagger", "bc"):
        return (INTERVENTION,)
    return (ONLINE, INTERVENTION)


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
