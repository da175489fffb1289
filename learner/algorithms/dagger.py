"""DAgger (Ross et al. 2011): behaviour cloning on an expert's label of every visited state
(simulation, where the expert can be asked), and on the demonstrations.

Every step an actor took, the policy's and the operator's alike, goes to the online buffer with
the expert's action in place of the executed one; prior data go to demos. The labels of a
recorded episode come from a relabel function: by default the episode's `expert_action` array,
which a simulated actor records from the privileged state (`Learner(relabel=...)` gives another,
such as `rlif.learner_cli.scripted_pick_relabel`); a streamed step carries its expert action.
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
    labels = record.arrays.get(EXPERT_ACTION)
    if labels is None:
        raise RecordError(
            f"episode {record.meta.get('episode_id')!r} has no '{EXPERT_ACTION}' array: DAgger needs "
            "expert labels recorded with the episode, or a relabel function"
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
