"""A replay batch as torch tensors, shared with the numpy arrays it came from (no copy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from learner.replay import Batch


@dataclass
class TensorBatch:
    images: dict[str, torch.Tensor]
    state: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    next_images: dict[str, torch.Tensor]
    next_state: torch.Tensor
    imitate: torch.Tensor | None = None
    """Bool (B,): rows whose action the behaviour-cloning term imitates."""

    @classmethod
    def from_numpy(cls, batch: Batch) -> TensorBatch:
        """Tensors over the batch's arrays; raises ValueError when a number is not finite."""
        for name in ("state", "action", "reward", "next_state"):
            values = getattr(batch, name)
            if not np.isfinite(values).all():
                raise ValueError(f"replay batch holds non-finite values in '{name}'")
        return cls(
            images={camera: torch.from_numpy(images) for camera, images in batch.images.items()},
            state=torch.from_numpy(batch.state),
            action=torch.from_numpy(batch.action),
            reward=torch.from_numpy(batch.reward),
            terminated=torch.from_numpy(batch.terminated),
            next_images={camera: torch.from_numpy(images) for camera, images in batch.next_images.items()},
            next_state=torch.from_numpy(batch.next_state),
            imitate=None if batch.imitate is None else torch.from_numpy(batch.imitate),
        )
