"""`Learner`: replay buffers, an agent (SAC or behaviour cloning), metrics and checkpoints.

One object, used from one thread: data goes in (whole recorded episodes, or steps streamed by
any number of actors), updates run, policy weights come out, checkpoints go to the run folder.

learner = Learner(LearnerConfig(), run_dir=Path("runs/x"))
learner.restore()                                     # resume from the newest checkpoint, if any
learner.add_episode(EpisodeRecord.load(path), prior=True)   # demonstrations
learner.add_step(actor_id, episode_id, t, step_record, next_observation=obs)  # streamed
if learner.ready():
    metrics = learner.update()
weights = learner.export_policy()                     # named float32 arrays for `Policy`
learner.save_checkpoint()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from learner import baselines
from learner.allocator import keep_freed_memory
from learner.augment import random_shifts
from learner.baselines import BUFFERS, DEMOS, INTERVENTION, ONLINE, Relabel
from learner.batch import TensorBatch
from learner.bc import BCAgent
from learner.checkpoint import Checkpoint, IncompatibleCheckpoint, latest_checkpoint, save_checkpoint
from learner.config import LearnerConfig
from learner.episodes import EpisodeSummary, Frame, StepAssembler, Transition, record_transitions
from learner.labels import RewardRule
from learner.metrics import EpisodeWindow, MetricsLogger
from learner.policy import PolicyArrays, load_policy_arrays, policy_arrays
from learner.replay import Batch, ReplayBuffer
from learner.sac import SACAgent
from wire.records import EpisodeRecord, RecordError, StepRecord

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
        self.relabel = relabel or baselines.recorded_expert_actions
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.keep_freed_memory:
            keep_freed_memory()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.agent: SACAgent | BCAgent = SACAgent(config) if config.is_rl else BCAgent(config)
        self.rule = RewardRule.from_config(config)
        shape = (config.cameras, config.image_size, config.state_dim, config.action_dim)
        self.buffers = {name: ReplayBuffer(name, config.capacity, *shape, config.disk_dir) for name in BUFFERS}
        self._imitated = {self.buffers[name] for name in baselines.imitated_buffers(config.bc_rows)}
        self.assembler = StepAssembler(self.rule)
        self.rng = np.random.default_rng(config.seed)
        self.update_step = 0
        self.env_steps = 0
        self.episodes = 0
        self.window = EpisodeWindow(config.episode_window)
        self.metrics = MetricsLogger(run_dir) if run_dir is not None else None
        self.extra_state: dict[str, Any] = {}
        """JSON values of the caller's (e.g. transport sequence numbers), saved and restored with checkpoints."""
        self._batch = Batch.empty(config.batch_size, *shape)
        self._updates_since_log = 0
        self._update_seconds = 0.0

    # ------------------------------------------------------------------ data in

    def add_episode(self, record: EpisodeRecord, *, prior: bool = False) -> int:
        """Store every transition of a recorded episode; returns how many. `prior`: demonstrations
        or other offline data, all into the demos buffer and not counted as env steps."""
        record.validate()
        self._check_record(record)
        labels = None
        if self.config.algorithm == "dagger" and not prior:
            labels = np.asarray(self.relabel(record), dtype=np.float32)
            if labels.shape != (len(record), self.config.action_dim) or not np.isfinite(labels).all():
                raise ValueError(f"DAgger labels must be finite ({len(record)}, {self.config.action_dim}) actions")
        transitions, summary = record_transitions(record, self.rule, labels)
        for transition in transitions:
            self._store(transition, prior=prior)
        if not prior:
            self.env_steps += len(record)
            self._episode_finished(summary)
        return len(transitions)

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
        `next_observation` ({"state", "images"} as the env gives it). DAgger needs `expert_action`."""
        where = f"actor {actor_id!r} episode {episode_id!r} step {step_index}"
        observation = self._frame(step.state, step.images, where)
        final = None
        if next_observation is not None:
            final = self._frame(next_observation.get("state"), next_observation.get("images", {}), where + " (final)")
        action = step.action
        if self.config.algorithm == "dagger":
            if expert_action is None:
                raise ValueError(f"{where}: DAgger needs the expert's action with every step")
            action = expert_action
        action = self._action(action, where)
        before = self.assembler.duplicates
        transitions, summary = self.assembler.push(
            (actor_id, episode_id),
            step_index,
            observation,
            action,
            intervened=bool(step.intervened),
            intervention_onset=bool(step.intervention_onset),
            terminated=bool(step.terminated),
            truncated=bool(step.truncated),
            success=-1 if step.success is None else int(step.success),
            next_observation=final,
        )
        if self.assembler.duplicates == before:
            self.env_steps += 1
        for transition in transitions:
            self._store(transition, prior=False)
        if summary is not None:
            self._episode_finished(summary)
        return len(transitions)

    def load_episodes(self, paths: Iterable[Path], *, prior: bool = False) -> int:
        """Load recorded episode files (`EpisodeRecord.load`) and store them; returns the transitions."""
        return sum(self.add_episode(EpisodeRecord.load(path), prior=prior) for path in paths)

    def abandon_episode(self, actor_id: str, episode_id: str) -> bool:
        """Drop the held-back step of an episode that will never finish (its actor is gone)."""
        return self.assembler.abandon((actor_id, episode_id))

    def _store(self, transition: Transition, *, prior: bool) -> None:
        name = baselines.buffer_for(self.config.algorithm, intervened=transition.intervened, prior=prior)
        stream = ("prior", *transition.stream) if prior else transition.stream
        self.buffers[name].add(
            stream,
            transition.step,
            transition.observation,
            transition.action,
            transition.reward,
            transition.terminated,
            transition.next_observation,
            transition.episode_ends,
        )

    def _episode_finished(self, summary: EpisodeSummary) -> None:
        self.episodes += 1
        values = self.window.add(summary)
        if self.metrics is not None:
            self.metrics.log(values, step=self.update_step, env_steps=self.env_steps)

    def _check_record(self, record: EpisodeRecord) -> None:
        config = self.config
        name = f"episode {record.meta.get('episode_id')!r}"
        missing = sorted(set(config.cameras) - set(record.cameras))
        if missing:
            raise RecordError(f"{name} has no images of cameras {missing}")
        for camera in config.cameras:
            shape = record.arrays[f"obs_{camera}"].shape[1:]
            if shape != (*config.image_size, 3):
                raise RecordError(f"{name}: camera {camera!r} images are {shape}, expected {(*config.image_size, 3)}")
        state, action = record.arrays["obs_state"], record.arrays["action"]
        if state.shape[1] != config.state_dim or action.shape[1] != config.action_dim:
            raise RecordError(
                f"{name}: state {state.shape[1]} / action {action.shape[1]} long, the learner expects "
                f"{config.state_dim} / {config.action_dim}"
            )
        if not np.isfinite(state).all() or not np.isfinite(action).all():
            raise RecordError(f"{name} holds non-finite states or executed actions")

    def _frame(self, state: Any, images: Mapping[str, Any], where: str) -> Frame:
        config = self.config
        state_array = np.asarray(state, dtype=np.float32) if state is not None else None
        if state_array is None or state_array.shape != (config.state_dim,) or not np.isfinite(state_array).all():
            raise ValueError(f"{where}: state must be {config.state_dim} finite numbers")
        frames: dict[str, np.ndarray] = {}
        for camera in config.cameras:
            image = images.get(camera) if images is not None else None
            if image is None:
                raise ValueError(f"{where}: no image of camera {camera!r}")
            image = np.asarray(image)
            if image.dtype != np.uint8 or image.shape != (*config.image_size, 3):
                expected = (*config.image_size, 3)
                raise ValueError(f"{where}: camera {camera!r} must be uint8 {expected}, got {image.dtype}{image.shape}")
            frames[camera] = image
        return state_array, frames

    def _action(self, action: Any, where: str) -> np.ndarray:
        array = np.asarray(action, dtype=np.float32)
        if array.shape != (self.config.action_dim,) or not np.isfinite(array).all():
            raise ValueError(f"{where}: action must be {self.config.action_dim} finite numbers")
        return array

    # ------------------------------------------------------------------ learning

    def _sampled(self) -> list[ReplayBuffer]:
        return [self.buffers[name] for name in baselines.sampled_buffers(self.config.algorithm)]

    def ready(self) -> bool:
        """Whether the sampled buffers hold `min_transitions` between them."""
        stored = sum(len(buffer) for buffer in self._sampled())
        return stored > 0 and stored >= self.config.min_transitions

    def batch_split(self) -> list[tuple[ReplayBuffer, int]]:
        """How many rows of a batch each non-empty sampled buffer gives (see `learner.baselines`)."""
        config = self.config
        filled = {buffer.name for buffer in self._sampled() if len(buffer)}
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
        for buffer, count in self.batch_split():
            slots = buffer.sample_slots(self.rng, count)
            shifts = random_shifts(self.rng, count, pad) if pad else None
            next_shifts = random_shifts(self.rng, count, pad) if pad else None
            buffer.gather(slots, self._batch, offset, shifts, next_shifts)
            if self._batch.imitate is not None:
                self._batch.imitate[offset : offset + count] = buffer in self._imitated
            offset += count
        return self._batch

    def update(self) -> dict[str, float]:
        """One update: `utd_ratio` critic steps and one actor step (SAC), or `utd_ratio`
        behaviour-cloning steps; returns the last step's scalars."""
        if not self.ready():
            raise NotReady(f"the sampled buffers hold fewer than {max(self.config.min_transitions, 1)} transitions")
        started = time.perf_counter()
        self.agent.train()
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
        return policy_arrays(self.agent.encoder, self.agent.actor)

    def import_policy(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Start the encoder and actor from exported policy weights (e.g. a BC-pretrained policy)."""
        load_policy_arrays(self.agent.encoder, self.agent.actor, arrays)

    # ------------------------------------------------------------------ checkpoints

    @property
    def checkpoint_root(self) -> Path:
        if self.run_dir is None:
            raise ValueError("a learner without run_dir keeps no checkpoints")
        return self.run_dir / CHECKPOINT_FOLDER

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of everything needed to continue exactly from here."""
        config = self.config
        agent = self.agent
        tensors = {
            "agent": agent.state_dict(),
            "optimizers": {name: optimizer.state_dict() for name, optimizer in agent.optimizers.items()},
            "generator": agent.generator.get_state(),
        }
        arrays: dict[str, np.ndarray] = {}
        buffer_meta: dict[str, Any] = {}
        if config.checkpoint_buffers:
            for name, buffer in self.buffers.items():
                stored, buffer_meta[name] = buffer.state_dict()
                arrays.update({f"{name}.{key}": array for key, array in stored.items()})
        stream_arrays, stream_meta = self.assembler.state_dict()
        arrays.update({f"streams.{key}": array for key, array in stream_arrays.items()})
        meta = {
            "update_step": self.update_step,
            "env_steps": self.env_steps,
            "episodes": self.episodes,
            "rng": self.rng.bit_generator.state,
            "window": self.window.state(),
            "buffers": buffer_meta,
            "streams": stream_meta,
            "extra": self.extra_state,
        }
        path = save_checkpoint(
            self.checkpoint_root,
            self.update_step,
            config=config.to_dict(),
            meta=meta,
            tensors=tensors,
            arrays=arrays,
            keep=config.checkpoint_keep,
        )
        if self.metrics is not None:
            self.metrics.flush()
        log.info("checkpoint %s", path)
        return path

    def restore(self) -> int | None:
        """Continue from the newest usable checkpoint in the run folder: returns its step, or None
        when there is none. Raises IncompatibleCheckpoint if it was written with other shapes."""
        checkpoint = latest_checkpoint(self.checkpoint_root, self._check_compatible)
        if checkpoint is None:
            return None
        self._load(checkpoint)
        log.info("resumed from %s at update %d", checkpoint.path, self.update_step)
        return self.update_step

    def _check_compatible(self, checkpoint: Checkpoint) -> None:
        ours = self.config.shape_fields()
        try:
            theirs = LearnerConfig.from_dict(checkpoint.config).shape_fields()
        except (TypeError, ValueError) as exc:
            raise IncompatibleCheckpoint(f"{checkpoint.path}: unreadable learner settings ({exc})") from None
        different = {name: (theirs[name], ours[name]) for name in ours if theirs[name] != ours[name]}
        if different:
            listed = ", ".join(f"{name}: checkpoint {old!r}, now {new!r}" for name, (old, new) in different.items())
            raise IncompatibleCheckpoint(
                f"{checkpoint.path} was written with other settings ({listed}); use its settings or a new run folder"
            )

    def _load(self, checkpoint: Checkpoint) -> None:
        tensors, meta = checkpoint.tensors, checkpoint.meta
        self.agent.load_state_dict(tensors["agent"])
        for name, optimizer in self.agent.optimizers.items():
            optimizer.load_state_dict(tensors["optimizers"][name])
        self.agent.generator.set_state(tensors["generator"])
        for name, buffer_meta in meta["buffers"].items():  # a checkpoint from before the demos buffer has none
            prefix = f"{name}."
            stored = {key[len(prefix) :]: array for key, array in checkpoint.arrays.items() if key.startswith(prefix)}
            self.buffers[name].load_state_dict(stored, buffer_meta)
        stream_arrays = {
            key.removeprefix("streams."): array
            for key, array in checkpoint.arrays.items()
            if key.startswith("streams.")
        }
        self.assembler.load_state_dict(stream_arrays, meta["streams"])
        self.rng.bit_generator.state = meta["rng"]
        self.window.load_state(meta["window"])
        self.extra_state = dict(meta.get("extra", {}))
        self.update_step, self.env_steps, self.episodes = meta["update_step"], meta["env_steps"], meta["episodes"]

    def close(self) -> None:
        """Flush and release the metrics files and disk-backed buffers."""
        if self.metrics is not None:
            self.metrics.close()
        for buffer in self.buffers.values():
            buffer.close()


def _proportions(weights: dict[str, float], keep: set[str]) -> dict[str, float]:
    """The weights of the names in `keep`, scaled to sum to 1 (equal shares when they are all 0)."""
    kept = {name: weight for name, weight in weights.items() if name in keep}
    total = sum(kept.values())
    return {name: weight / total if total else 1.0 / len(kept) for name, weight in kept.items()}
