"""From recorded or streamed steps to labelled transitions.

`record_transitions` turns a whole `EpisodeRecord` into transitions; `StepAssembler` does the
same for steps that arrive one at a time from any number of actors, keyed by (actor id,
episode id) and ordered by step index. A streamed step t completes transition t-1 (its next
observation is step t's observation, and its reward depends on whether step t starts a
takeover), so each stream holds back one step. Both label rewards with the one `RewardRule`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from learner.labels import RewardRule
from wire.ratelog import RateLimitedLog
from wire.records import EpisodeRecord

log = logging.getLogger(__name__)


Frame = tuple[np.ndarray, Mapping[str, np.ndarray]]
"""An observation as it is stored: (state, {camera: uint8 image})."""
StreamKey = tuple[str, str]
"""(actor id, episode id)."""
FINISHED_REMEMBERED = 10_000
MAX_OPEN_EPISODES = 256
"""Episodes in flight at once, over all actors; beyond it the one idle longest is dropped (a
peer inventing episode ids cannot make the learner hold an observation for each)."""


@dataclass
class Transition:
    stream: StreamKey
    step: int
    observation: Frame
    action: np.ndarray
    """The action stored for learning: the executed one, or the expert's label (DAgger)."""
    reward: float
    terminated: bool
    next_observation: Frame
    episode_ends: bool
    intervened: bool


@dataclass
class EpisodeSummary:
    """What the actor side of the metrics reports of one finished episode."""

    length: int
    reward: float
    success: bool
    intervention_rate: float
    takeovers: int


def record_transitions(
    record: EpisodeRecord, rule: RewardRule, actions: np.ndarray | None = None
) -> tuple[list[Transition], EpisodeSummary]:
    """Every transition of a recorded episode, labelled, and its summary. `actions` replaces the
    executed actions as learning targets (DAgger's expert labels)."""
    arrays = record.arrays
    steps = len(record)
    stored = arrays["action"] if actions is None else actions
    rewards = rule.episode_rewards(arrays["intervention_onset"], arrays["success"])
    ends = arrays["terminated"] | arrays["truncated"]
    key: StreamKey = (str(record.meta.get("actor_id", "")), str(record.meta.get("episode_id", "")))

    def frame(t: int) -> Frame:
        return arrays["obs_state"][t], {camera: arrays[f"obs_{camera}"][t] for camera in record.cameras}

    transitions = [
        Transition(
            stream=key,
            step=t,
            observation=frame(t),
            action=stored[t],
            reward=float(rewards[t]),
            terminated=bool(arrays["terminated"][t]),
            next_observation=frame(t + 1),
            episode_ends=bool(ends[t]) or t == steps - 1,
            intervened=bool(arrays["intervened"][t]),
        )
        for t in range(steps)
    ]
    summary = EpisodeSummary(
        length=steps,
        reward=float(rewards.sum()),
        success=bool((arrays["success"] == 1).any()),
        intervention_rate=float(arrays["intervened"].mean()),
        takeovers=int(arrays["intervention_onset"].sum()),
    )
    return transitions, summary


@dataclass
class PendingStep:
    step: int
    observation: Frame
    action: np.ndarray
    intervened: bool
    first_success: bool


@dataclass
class StreamState:
    next_step: int = 0
    pending: PendingStep | None = None
    succeeded: bool = False
    steps: int = 0
    reward: float = 0.0
    intervened_steps: int = 0
    takeovers: int = 0


class StepAssembler:
    def __init__(self, rule: RewardRule) -> None:
        self.rule = rule
        self.streams: dict[StreamKey, StreamState] = {}
        self.finished: OrderedDict[StreamKey, None] = OrderedDict()
        """Recently finished episodes: a step of one of them arriving again is a duplicate."""
        self.gaps = 0
        self.duplicates = 0
        self.dropped = 0
        """Episodes given up because too many were open at once."""
        self._log = RateLimitedLog(log)

    def push(
        self,
        key: StreamKey,
        step: int,
        observation: Frame,
        action: np.ndarray,
        *,
        intervened: bool,
        intervention_onset: bool,
        terminated: bool,
        truncated: bool,
        success: int,
        next_observation: Frame | None,
    ) -> tuple[list[Transition], EpisodeSummary | None]:
        """Take step `step` of stream `key`; return the transitions it completes and, when it ends
        the episode, the episode's summary. A step seen before is ignored; after a gap the
        held-back step is dropped (its reward would be unknown) and the stream goes on from here."""
        if (terminated or truncated) and next_observation is None:
            raise ValueError(f"stream {key}: the last step {step} needs the final observation")
        state = self.streams.get(key)
        if key in self.finished or (state is not None and step < state.next_step):
            self.duplicates += 1
            return [], None
        if state is None:
            self._make_room()
            state = self.streams[key] = StreamState()
        else:
            self.streams[key] = self.streams.pop(key)  # most recently heard last
        if step > state.next_step:
            self.gaps += 1
            self._log.warning("gap", "stream %s: steps %d..%d never arrived", key, state.next_step, step - 1)
            state.pending = None
        first_success = success == 1 and not state.succeeded
        state.succeeded = state.succeeded or success == 1
        state.next_step = step + 1
        state.steps += 1
        state.intervened_steps += int(intervened)
        state.takeovers += int(intervention_onset)
        completed: list[Transition] = []
        if state.pending is not None:
            completed.append(self._complete(key, state, state.pending, observation, intervention_onset, False, False))
        current = PendingStep(step, observation, action, intervened, first_success)
        if not (terminated or truncated):
            state.pending = current
            return completed, None
        assert next_observation is not None
        completed.append(self._complete(key, state, current, next_observation, False, terminated, True))
        del self.streams[key]
        self.finished[key] = None
        if len(self.finished) > FINISHED_REMEMBERED:
            self.finished.popitem(last=False)
        summary = EpisodeSummary(
            length=state.steps,
            reward=state.reward,
            success=state.succeeded,
            intervention_rate=state.intervened_steps / state.steps,
            takeovers=state.takeovers,
        )
        return completed, summary

    def _make_room(self) -> None:
        while len(self.streams) >= MAX_OPEN_EPISODES:
            oldest = next(iter(self.streams))
            del self.streams[oldest]
            self.dropped += 1
            self._log.warning(
                "open-episodes", "episode %s dropped: more than %d open at once", oldest, MAX_OPEN_EPISODES
            )

    def _complete(
        self,
        key: StreamKey,
        state: StreamState,
        pending: PendingStep,
        next_observation: Frame,
        next_step_is_onset: bool,
        terminated: bool,
        episode_ends: bool,
    ) -> Transition:
        reward = self.rule.transition_reward(next_step_is_onset=next_step_is_onset, first_success=pending.first_success)
        state.reward += reward
        return Transition(
            stream=key,
            step=pending.step,
            observation=pending.observation,
            action=pending.action,
            reward=reward,
            terminated=terminated,
            next_observation=next_observation,
            episode_ends=episode_ends,
            intervened=pending.intervened,
        )

    def abandon(self, key: StreamKey) -> bool:
        """Forget an episode that will never finish (its actor is gone); True if it was open."""
        return self.streams.pop(key, None) is not None

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays: dict[str, np.ndarray] = {}
        streams = []
        for index, (key, state) in enumerate(self.streams.items()):
            entry: dict[str, Any] = {
                "key": list(key),
                "next_step": state.next_step,
                "succeeded": state.succeeded,
                "steps": state.steps,
                "reward": state.reward,
                "intervened_steps": state.intervened_steps,
                "takeovers": state.takeovers,
                "pending": None,
            }
            if state.pending is not None:
                pending = state.pending
                entry["pending"] = {
                    "step": pending.step,
                    "intervened": pending.intervened,
                    "first_success": pending.first_success,
                    "cameras": sorted(pending.observation[1]),
                }
                arrays[f"pending{index}_state"] = np.asarray(pending.observation[0])
                arrays[f"pending{index}_action"] = np.asarray(pending.action)
                for camera, image in pending.observation[1].items():
                    arrays[f"pending{index}_image_{camera}"] = np.asarray(image)
            streams.append(entry)
        meta = {
            "streams": streams,
            "finished": [list(key) for key in self.finished],
            "gaps": self.gaps,
            "duplicates": self.duplicates,
        }
        return arrays, meta

    def load_state_dict(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        self.streams = {}
        for index, entry in enumerate(meta["streams"]):
            pending = None
            if entry["pending"] is not None:
                info = entry["pending"]
                images = {camera: arrays[f"pending{index}_image_{camera}"] for camera in info["cameras"]}
                pending = PendingStep(
                    step=int(info["step"]),
                    observation=(arrays[f"pending{index}_state"], images),
                    action=arrays[f"pending{index}_action"],
                    intervened=bool(info["intervened"]),
                    first_success=bool(info["first_success"]),
                )
            self.streams[(entry["key"][0], entry["key"][1])] = StreamState(
                next_step=int(entry["next_step"]),
                pending=pending,
                succeeded=bool(entry["succeeded"]),
                steps=int(entry["steps"]),
                reward=float(entry["reward"]),
                intervened_steps=int(entry["intervened_steps"]),
                takeovers=int(entry["takeovers"]),
            )
        self.finished = OrderedDict(((actor, episode), None) for actor, episode in meta["finished"])
        self.gaps, self.duplicates = int(meta["gaps"]), int(meta["duplicates"])

    def __iter__(self) -> Iterator[StreamKey]:
        return iter(self.streams)
