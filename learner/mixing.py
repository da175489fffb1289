"""Training batches mixed from several buffers (RLPD's symmetric sampling).

Each batch takes `LearnerConfig.intervention_fraction` of its rows from the operator's steps and
the demonstrations together (half, by default), and `demo_fraction` of those from the
demonstrations; the rest comes from the policy's own steps. Only the buffers the algorithm
samples (`AlgorithmSpec.samples`) take part, and the share of one that is empty or not sampled
goes to the others. Rows from the buffers `bc_rows` names are flagged for SAC's behaviour-cloning
term (`Batch.imitate`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from learner.algorithms.spec import DEMOS, INTERVENTION, ONLINE
from learner.augment import random_shifts
from learner.config import ImitatedRows, LearnerConfig
from learner.replay import Batch, ReplayBuffer

IMITATED: dict[ImitatedRows, tuple[str, ...]] = {
    "demos": (DEMOS,),
    "operator": (INTERVENTION,),
    "both": (INTERVENTION, DEMOS),
}
"""The buffers whose rows the behaviour-cloning term of rlif/rlpd imitates, by `bc_rows`."""


class BatchMixer:
    def __init__(
        self,
        config: LearnerConfig,
        buffers: Mapping[str, ReplayBuffer],
        samples: tuple[str, ...],
        rng: np.random.Generator,
    ) -> None:
        """`samples`: the names of the buffers batches come from; `rng` draws rows and shifts."""
        self.config = config
        self.rng = rng
        self.sampled = [buffers[name] for name in samples]
        self.buffers = dict(buffers)
        self._imitated = {buffers[name] for name in IMITATED[config.bc_rows]}
        self._batch = Batch.empty(
            config.batch_size, config.cameras, config.image_size, config.state_dim, config.action_dim
        )

    def ready(self) -> bool:
        """Whether the sampled buffers hold `min_transitions` between them."""
        stored = sum(len(buffer) for buffer in self.sampled)
        return stored > 0 and stored >= self.config.min_transitions

    def split(self) -> list[tuple[ReplayBuffer, int]]:
        """How many rows of a batch each non-empty sampled buffer gives."""
        config = self.config
        filled = {buffer.name for buffer in self.sampled if len(buffer)}
        offline = _proportions({INTERVENTION: 1.0 - config.demo_fraction, DEMOS: config.demo_fraction}, keep=filled)
        sides = _proportions(
            {ONLINE: 1.0 - config.intervention_fraction, "offline": config.intervention_fraction},
            keep=filled | ({"offline"} if offline else set()),
        )
        shares = {ONLINE: sides.get(ONLINE, 0.0)}
        shares.update({name: sides.get("offline", 0.0) * share for name, share in offline.items()})
        split, given, cumulative = [], 0, 0.0
        for name, share in shares.items():
            cumulative += share
            count = round(config.batch_size * cumulative) - given
            given += count
            if count:
                split.append((self.buffers[name], count))
        return split

    def sample(self) -> Batch:
        """The next training batch (images randomly shifted); reused arrays, valid until the next call."""
        offset = 0
        pad = self.config.augment_pad if self.config.cameras else 0
        for buffer, count in self.split():
            slots = buffer.sample_slots(self.rng, count)
            shifts = random_shifts(self.rng, count, pad) if pad else None
            next_shifts = random_shifts(self.rng, count, pad) if pad else None
            buffer.gather(slots, self._batch, offset, shifts, next_shifts)
            if self._batch.imitate is not None:
                self._batch.imitate[offset : offset + count] = buffer in self._imitated
            offset += count
        return self._batch


def _proportions(weights: dict[str, float], keep: set[str]) -> dict[str, float]:
    """The weights of the names in `keep`, scaled to sum to 1 (equal shares when they are all 0)."""
    kept = {name: weight for name, weight in weights.items() if name in keep}
    total = sum(kept.values())
    return {name: weight / total if total else 1.0 / len(kept) for name, weight in kept.items()}
