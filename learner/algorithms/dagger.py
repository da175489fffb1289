"""DAgger (Ross et al. 2011): behaviour cloning on an expert's label of every visited state
(simulation, where the expert can be asked), and on the demonstrations.

Every step an actor took, the policy's and the operator's alike, goes to the online buffer with
the expert's action in place of the executed one; prior data go to demos. The labels of a
recorded episode come from a relabel function: by default the episode's `expert_action` array,
which the actor records from a simulated operator's answers (`Learner(relabel=...)` gives another,
such as `rlif.learner_cli.scripted_pick_relabel`); a streamed step carries its expert action the
same way. An episode or step without labels (a person operating) is refused: use hg_dagger.
"""

from __future__ import annotations

import numpy as np

from learner.agents.bc import BCAgent
from learner.algorithms.spec import DEMOS, NO_REWARD, ONLINE, AlgorithmSpec
from wire.records import EpisodeRecord, RecordError

EXPERT_ACTION = "expert_action"


def recorded_expert_actions(record: EpisodeRecord) -> np.ndarray:
    """The default relabel: the episode's `expert_action` array (T, A), recorded by an actor that
    could query the expert at every step."""
    name = f"episode {record.meta.get('episode_id')!r}"
    labels = record.arrays.get(EXPERT_ACTION)
    if labels is None:
        raise RecordError(
            f"{name} has no '{EXPERT_ACTION}' array: DAgger needs expert labels recorded with the episode, "
            "or a relabel function"
        )
    missing = np.flatnonzero(~np.isfinite(labels).all(axis=tuple(range(1, labels.ndim))))
    if missing.size:
        raise RecordError(
            f"{name}: '{EXPERT_ACTION}' has no label at {missing.size} of {len(labels)} steps (first: step "
            f"{missing[0]}); DAgger needs the expert's label of every step, which a person operating does "
            "not give: use hg_dagger, or a relabel function"
        )
    return labels


SPEC = AlgorithmSpec(
    name="dagger",
    learns="BC on expert labels of all states",
    rewards=lambda config: NO_REWARD,
    stores={"policy": ONLINE, "operator": ONLINE, "prior": DEMOS},
    samples=(ONLINE, DEMOS),
    agent=BCAgent,
    relabel=recorded_expert_actions,
)
