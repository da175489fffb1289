"""`Learner`: the algorithm's agent, its replay buffers, metrics and checkpoints, in one object.

Used from one thread: data goes in (whole recorded episodes, or steps streamed by any number of
actors), updates run, policy weights come out, checkpoints go to the run folder.

learner = Learner(LearnerConfig(), run_dir=Path("runs/x"))
learner.restore()                                     # resume from the newest checkpoint, if any
learner.add_episode(EpisodeRecord.load(path), prior=True)   # demonstrations
learner.add_step(actor_id, episode_id, t, step_record, next_observation=obs)  # streamed
if learner.ready():
    metrics = learner.update()
weights = learner.export_policy()                     # named float32 arrays for `Policy`
learner.save_checkpoint()

The parts: what the algorithm is (`learner.algorithms`), data in (`learner.ingest`), batches
(`learner.mixing`), the agent (`learner.agents`), checkpoints (`learner.learner_state`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learner.agents.base import Agent
from learner.algorithms import algorithm_spec
from learner.algorithms.spec import BUFFERS, Relabel
from learner.allocator import keep_freed_memory
from learner.batch import TensorBatch
from learner.checkpoint import latest_checkpoint
from learner.config import LearnerConfig
from learner.episodes import EpisodeSummary, StepAssembler
from learner.ingest import Ingest
from learner.learner_state import check_compatible, load_learner, save_learner
from learner.metrics import EpisodeWindow, MetricsLogger
from learner.mixing import BatchMixer
from learner.policy import PolicyArrays
from learner.replay import Batch, ReplayBuffer
from wire.records import EpisodeRecord, StepRecord

log = logging.getLogger(__name__)

CHECKPOINT_FOLDER = "checkpoints"


class NotReady(RuntimeError):
    """`update()` was called before the sampled buffers hold enough transitions."""


class Learner:
    def __init__(self, config: LearnerConfig, run_dir: Path | None = None, relabel: Relabel | None = None) -> None:
        """`run_dir` receives metrics and checkpoints (None: neither). `relabel` gives DAgger's
        expert labels of a recorded episode (default: its `expert_action` array)."""
        self.config = config
        self.run_dir = run_dir
        self.spec = algorithm_spec(config)
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.keep_freed_memory:
            keep_freed_memory()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.agent: Agent = self.spec.agent(config)
        shape = (config.cameras, config.image_size, config.state_dim, config.action_dim)
        self.buffers = {name: ReplayBuffer(name, config.capacity, *shape, config.disk_dir) for name in BUFFERS}
        self.ingest = Ingest(config, self.spec, self.buffers, relabel, self._episode_finished)
        self.rng = np.random.default_rng(config.seed)
        self.mixer = BatchMixer(config, self.buffers, self.spec.samples, self.rng)
        self.update_step = 0
        self.episodes = 0
        self.window = EpisodeWindow(config.episode_window)
        self.metrics = MetricsLogger(run_dir) if run_dir is not None else None
        self.extra_state: dict[str, Any] = {}
        """JSON values of the caller's (e.g. transport sequence numbers), saved and restored with checkpoints."""
        self._updates_since_log = 0
        self._update_seconds = 0.0

    @property
    def env_steps(self) -> int:
        """Environment steps taken in (prior data and repeated steps not counted)."""
        return self.ingest.env_steps

    @env_steps.setter
    def env_steps(self, value: int) -> None:
        self.ingest.env_steps = value

    @property
    def assembler(self) -> StepAssembler:
        return self.ingest.assembler

    # ------------------------------------------------------------------ data in (`learner.ingest`)

    def add_episode(self, record: EpisodeRecord, *, prior: bool = False) -> int:
        """Store every transition of a recorded episode; returns how many. `prior`: demonstrations
        or other offline data, all into the demos buffer and not counted as env steps."""
        return self.ingest.add_episode(record, prior=prior)

    def add_step(
        self,
        actor_id: str,
        episode_id: str,
        step_index: int,
        step: StepRecord,
        *,
        next_observation: Mapping[str, Any] | None = None,
        expert_action: np.ndarray | None = None,
    ) -> int:
        """Take one streamed step of an actor's episode; returns the transitions it completed and
        stored. Steps of one episode must come in order of `step_index` (a repeated one is ignored);
        the last step (terminated or truncated) carries the final observation as
        `next_observation` ({"state", "images"} as the env gives it). DAgger stores `expert_action`, else
        the step's own label (`step.expert_action`), and refuses a step with neither."""
        return self.ingest.add_step(
            actor_id, episode_id, step_index, step, next_observation=next_observation, expert_action=expert_action
        )

    def load_episodes(self, paths: Iterable[Path], *, prior: bool = False) -> int:
        """Load recorded episode files (`EpisodeRecord.load`) and store them; returns the transitions."""
        return sum(self.add_episode(EpisodeRecord.load(path), prior=prior) for path in paths)

    def abandon_episode(self, actor_id: str, episode_id: str) -> bool:
        """Drop the held-back step of an episode that will never finish (its actor is gone)."""
        return self.ingest.abandon_episode(actor_id, episode_id)

    def _episode_finished(self, summary: EpisodeSummary) -> None:
        self.episodes += 1
        values = self.window.add(summary)
        if self.metrics is not None:
            self.metrics.log(values, step=self.update_step, env_steps=self.env_steps)

    # ------------------------------------------------------------------ learning

    def ready(self) -> bool:
        """Whether the sampled buffers hold `min_transitions` between them."""
        return self.mixer.ready()

    def batch_split(self) -> list[tuple[ReplayBuffer, int]]:
        """How many rows of a batch each non-empty sampled buffer gives (see `learner.mixing`)."""
        return self.mixer.split()

    def sample(self) -> Batch:
        """The next training batch (images randomly shifted); reused arrays, valid until the next call."""
        return self.mixer.sample()

    def update(self) -> dict[str, float]:
        """One update of the agent (SAC: `utd_ratio` critic steps and one actor step; behaviour
        cloning: `utd_ratio` steps); returns the last step's scalars."""
        if not self.ready():
            raise NotReady(f"the sampled buffers hold fewer than {max(self.config.min_transitions, 1)} transitions")
        started = time.perf_counter()
        metrics = self.agent.update(lambda: TensorBatch.from_numpy(self.sample()))
        for name, value in metrics.items():
            if not np.isfinite(value):
                raise FloatingPointError(f"update {self.update_step + 1}: {name} is {value}")
        self.update_step += 1
        self._update_seconds += time.perf_counter() - started
        self._updates_since_log += 1
        if self.metrics is not None and self.update_step % self.config.log_every == 0:
            values = dict(metrics)
            values["perf/updates_per_s"] = self._updates_since_log / self._update_seconds
            values.update({f"buffer/{name}": float(len(buffer)) for name, buffer in self.buffers.items()})
            self.metrics.log(values, step=self.update_step, env_steps=self.env_steps)
            self._updates_since_log, self._update_seconds = 0, 0.0
        return metrics

    # ------------------------------------------------------------------ policy

    def export_policy(self) -> PolicyArrays:
        """The encoder and actor weights as named float32 arrays, for `learner.policy.Policy`."""
        return self.agent.export_policy()

    def import_policy(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Start the encoder and actor from exported policy weights (e.g. a BC-pretrained policy)."""
        self.agent.import_policy(arrays)

    # ------------------------------------------------------------------ checkpoints (`learner.learner_state`)

    @property
    def checkpoint_root(self) -> Path:
        if self.run_dir is None:
            raise ValueError("a learner without run_dir keeps no checkpoints")
        return self.run_dir / CHECKPOINT_FOLDER

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of everything needed to continue exactly from here."""
        path = save_learner(self, self.checkpoint_root)
        if self.metrics is not None:
            self.metrics.flush()
        log.info("checkpoint %s", path)
        return path

    def restore(self) -> int | None:
        """Continue from the newest usable checkpoint in the run folder: returns its step, or None
        when there is none. Raises IncompatibleCheckpoint if it was written with other shapes."""
        checkpoint = latest_checkpoint(self.checkpoint_root, lambda found: check_compatible(self.config, found))
        if checkpoint is None:
            return None
        load_learner(self, checkpoint)
        log.info("resumed from %s at update %d", checkpoint.path, self.update_step)
        return self.update_step

    def close(self) -> None:
        """Flush and release the metrics files and disk-backed buffers."""
        if self.metrics is not None:
            self.metrics.close()
        for buffer in self.buffers.values():
            buffer.close()
