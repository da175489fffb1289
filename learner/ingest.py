"""Data in: recorded episodes and streamed steps, checked against the settings, labelled with the
algorithm's reward rule and stored in the buffer its spec names for each transition.

A streamed step completes the transition before it (`learner.episodes.StepAssembler`); repeated
steps are ignored and counted as neither transitions nor environment steps. Prior data
(demonstrations) are not environment steps either.

DAgger stores the expert's label of each state instead of the executed action: a streamed step
carries it (`StepRecord.expert_action`, from a simulated operator's answer); a step without one
(a person operating) is refused with `UNLABELLED`. Other algorithms ignore the label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from learner.algorithms.spec import AlgorithmSpec, Relabel
from learner.config import LearnerConfig
from learner.episodes import EpisodeSummary, Frame, StepAssembler, Transition, record_transitions
from learner.replay import ReplayBuffer
from wire.records import EpisodeRecord, RecordError, StepRecord, labelled

UNLABELLED = (
    "dagger needs the expert's label of every step; this run's operator sends none (a person operating?): use hg_dagger"
)


class Ingest:
    def __init__(
        self,
        config: LearnerConfig,
        spec: AlgorithmSpec,
        buffers: Mapping[str, ReplayBuffer],
        relabel: Relabel | None,
        on_episode: Callable[[EpisodeSummary], None],
    ) -> None:
        """`relabel` replaces the spec's default expert labels of recorded episodes (DAgger; other
        algorithms ignore it); `on_episode` hears of each finished episode that is not prior data."""
        self.config = config
        self.spec = spec
        self.buffers = buffers
        self.relabel = (relabel or spec.relabel) if spec.expert_labels else None
        self.rule = spec.rewards(config)
        self.assembler = StepAssembler(self.rule)
        self.on_episode = on_episode
        self.env_steps = 0

    def add_episode(self, record: EpisodeRecord, *, prior: bool = False) -> int:
        """Store every transition of a recorded episode; returns how many."""
        record.validate()
        check_record(self.config, record)
        labels = None
        if self.relabel is not None and not prior:
            labels = np.asarray(self.relabel(record), dtype=np.float32)
            if labels.shape != (len(record), self.config.action_dim) or not np.isfinite(labels).all():
                raise ValueError(f"DAgger labels must be finite ({len(record)}, {self.config.action_dim}) actions")
        transitions, summary = record_transitions(record, self.rule, labels)
        for transition in transitions:
            self._store(transition, prior=prior)
        if not prior:
            self.env_steps += len(record)
            self.on_episode(summary)
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
        """Take one streamed step (see `Learner.add_step`); returns the transitions it completed."""
        where = f"actor {actor_id!r} episode {episode_id!r} step {step_index}"
        observation = checked_frame(self.config, step.state, step.images, where)
        final = None
        if next_observation is not None:
            final = checked_frame(
                self.config, next_observation.get("state"), next_observation.get("images", {}), where + " (final)"
            )
        action = checked_action(self.config, self._stored_action(step, expert_action, where), where)
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
            self.on_episode(summary)
        return len(transitions)

    def _stored_action(self, step: StepRecord, expert_action: np.ndarray | None, where: str) -> np.ndarray:
        """The executed action, or for DAgger the expert's label (`expert_action`, else the step's)."""
        if not self.spec.expert_labels:
            return step.action
        label = step.expert_action if expert_action is None else expert_action
        if not labelled(label):
            raise ValueError(f"{where}: {UNLABELLED}")
        return label

    def abandon_episode(self, actor_id: str, episode_id: str) -> bool:
        """Drop the held-back step of an episode that will never finish (its actor is gone)."""
        return self.assembler.abandon((actor_id, episode_id))

    def _store(self, transition: Transition, *, prior: bool) -> None:
        name = self.spec.buffer_for(intervened=transition.intervened, prior=prior)
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


def check_record(config: LearnerConfig, record: EpisodeRecord) -> None:
    """RecordError unless the episode's cameras, image, state and action sizes fit the settings
    and its states and executed actions are finite."""
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


def checked_frame(config: LearnerConfig, state: Any, images: Mapping[str, Any], where: str) -> Frame:
    """An observation as it is stored; ValueError naming `where` unless it fits the settings."""
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


def checked_action(config: LearnerConfig, action: Any, where: str) -> np.ndarray:
    array = np.asarray(action, dtype=np.float32)
    if array.shape != (config.action_dim,) or not np.isfinite(array).all():
        raise ValueError(f"{where}: action must be {config.action_dim} finite numbers")
    return array
