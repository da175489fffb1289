"""`InterventionWrapper`: the operator's takeovers merged into the environment, every step recorded.

Wraps `RobotEnv` (or any env whose observation is a dict with a `state` vector and whose info
may carry the robot's state map under `robot`). Call `step(policy_action)`; the wrapper decides
what runs (`actor.takeover`: the operator's action while the operator is active, for a hold time
after a live operator lets go, else the policy's) and records the step as a
`wire.records.StepRecord`: observation, policy action, executed action, `intervened`,
`intervention_onset` (the `wire.records.onsets` rule), source, terminated, truncated, success,
monotonic and wall-clock stamps, policy version, and the expert's label of the state (DAgger): the
`expert_action` of the command that answers this very step (`sync="answer"`), all NaN otherwise
(`sync="latest"`, a person, no answer in time). `info["step_record"]` holds it; at the end of an
episode `info["episode_record"]` (and `last_episode`) holds the `EpisodeRecord`.

Streams (`teleop.stream`): the wrapper subscribes to the operator's command stream
(`commands`, default tcp://127.0.0.1:5560) and binds the proposal stream (`proposals`, default
tcp://127.0.0.1:5561; None to publish none).

Synchronisation. Before each step the wrapper publishes a proposal (episode id, step index,
state vector, the robot state map, the policy action). Then:

- `sync="answer"` (the default in lockstep mode): wait for the command that answers this very
  proposal (a simulated operator sets the command's `episode` and `step`), republishing the
  proposal every `republish_interval` in case a subscriber joined late. Lockstep runs far faster
  than real time, so this is how a value-based operator sees every policy action before it is
  executed. No answer within `answer_timeout` counts as no intervention, and in
  `sync_timeouts`; a run with no simulated operator (evaluation, a person) should use
  `sync="latest"`, or every step waits out the timeout.
- `sync="latest"` (the default in real-time mode, and for a person in any mode): use the newest
  command on the stream, whatever it answers (people send step -1, "latest"); a stream silent for
  longer than `stream_timeout` means no intervention.

An operator's verdict (the mark button, or a key) ends the episode with `terminated` true and
success as marked, when `end_on_mark` is set.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import zmq

from actor.takeover import Decision, TakeoverTracker
from teleop.publishers import ProposalPublisher
from teleop.stream import (
    DEFAULT_COMMANDS,
    DEFAULT_PROPOSALS,
    DEFAULT_STREAM_TIMEOUT,
    CommandSubscriber,
    Received,
)
from wire.operator import MARK_NONE, MARK_SUCCESS, Proposal
from wire.records import EpisodeRecord, StepRecord, no_label
from wire.security import BindError, CurveKeys, CurveServerKeys, Security, host_of, is_loopback

NO_POLICY = np.full(7, np.nan)
"""Pass as the policy action (or None) when no policy runs, as when recording demonstrations."""


@dataclass(frozen=True)
class InterventionConfig:
    """Settings of `InterventionWrapper`."""

    commands: str = DEFAULT_COMMANDS
    """Address of the operator's command stream to subscribe to."""
    proposals: str | None = DEFAULT_PROPOSALS
    """Address to bind the proposal stream on; None publishes no proposals."""
    sync: Literal["auto", "answer", "latest"] = "auto"
    """'answer': wait for the command answering each proposal (simulated operators, lockstep);
    'latest': use the newest command (people, real time); 'auto': answer in lockstep mode, else latest."""
    hold_time: float = 0.5
    """Seconds the operator keeps control after a live operator's last input (0: none)."""
    stream_timeout: float = DEFAULT_STREAM_TIMEOUT
    """Seconds of silence on the command stream after which the operator counts as absent."""
    answer_timeout: float = 2.0
    """'answer' mode: seconds to wait for the answer to a proposal before running the policy."""
    republish_interval: float = 0.05
    """'answer' mode: seconds between republications of an unanswered proposal."""
    end_on_mark: bool = True
    """End the episode (terminated) when the operator marks success or failure."""
    actor_id: str = "actor"
    """Recorded in every episode's metadata."""
    record_episodes: bool = True
    """Keep the episode's steps and build an `EpisodeRecord` at its end."""
    commands_curve: CurveKeys | None = None
    """CurveZMQ keys to subscribe to an operator stream that listens off loopback."""
    proposals_curve_secret_key: Path | None = None
    """CurveZMQ secret key of the proposal stream; required to bind it off loopback."""
    proposals_curve_clients: Path | None = None
    """Folder of the public keys of operators allowed on the proposal stream."""


class InterventionWrapper(gym.Wrapper):
    """Merges the operator's takeovers into a robot env and records both actions of every step."""

    def __init__(self, env: gym.Env, config: InterventionConfig = InterventionConfig(), *, context: Any = None) -> None:
        super().__init__(env)
        self.config = config
        self.sync = config.sync if config.sync != "auto" else self._auto_sync(env)
        self._context = context or zmq.Context.instance()
        self.tracker = TakeoverTracker(config.hold_time)
        self.commands: CommandSubscriber | None = None
        self.proposals: ProposalPublisher | None = None
        self._curve: Security | None = None
        try:
            secure_sub = Security(config.commands_curve).setup
            self.commands = CommandSubscriber(
                config.commands, timeout=config.stream_timeout, secure=secure_sub, context=self._context
            )
            if config.proposals is not None:
                self.proposals = ProposalPublisher(
                    config.proposals, secure=self._proposal_security(config.proposals), context=self._context
                )
        except BaseException:
            self._close_streams()
            raise
        if self.sync == "answer" and self.proposals is None:
            raise ValueError("sync='answer' needs a proposal stream to answer; set `proposals`")
        self._episode_counter = itertools.count()
        self._run_id = uuid.uuid4().hex[:8]
        self.episode_id = ""
        self.step_index = 0
        self.policy_version = -1
        """Weights version of the policy actions, recorded with each step (set by the actor)."""
        self.steps: list[StepRecord] = []
        self.last_episode: EpisodeRecord | None = None
        self.sync_timeouts = 0
        self.interventions = 0
        self._obs: dict[str, Any] = {}
        self._robot: dict[str, Any] = {}

    @staticmethod
    def _auto_sync(env: gym.Env) -> Literal["answer", "latest"]:
        mode = getattr(getattr(env.unwrapped, "config", None), "mode", "realtime")
        return "answer" if mode == "lockstep" else "latest"

    def _proposal_security(self, address: str) -> Any:
        host = host_of(address)
        secret, clients = self.config.proposals_curve_secret_key, self.config.proposals_curve_clients
        if secret is None or clients is None:
            if not is_loopback(host):
                raise BindError(
                    f"refusing to bind the proposal stream on {host}: off loopback it needs "
                    "proposals_curve_secret_key and proposals_curve_clients (`rlif keys DIR`)"
                )
            return None
        self._curve = Security(CurveServerKeys(secret, clients))
        return self._curve.setup

    # ------------------------------------------------------------------ gym API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.episode_id = f"{self.config.actor_id}-{self._run_id}-{next(self._episode_counter):06d}"
        self.step_index = 0
        self.steps = []
        self.tracker.reset()
        self._obs, self._robot = obs, dict(info.get("robot") or {})
        info["episode_id"] = self.episode_id
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if not self.episode_id:
            raise RuntimeError("call reset() before step()")
        policy_action = self._policy_action(action)
        received = self._operator_command(policy_action)
        decision = self.tracker.decide(time.monotonic(), policy_action, received.command if received else None)
        stamp, wall_time = time.monotonic(), time.time()
        obs, reward, terminated, truncated, info = self.env.step(decision.action.astype(np.float32))
        success = info.get("success")
        if decision.mark != MARK_NONE and self.config.end_on_mark:
            terminated, truncated = True, False
            success = decision.mark == MARK_SUCCESS
        record = StepRecord(
            state=np.asarray(self._obs["state"]),
            images=self._obs.get("images", {}),
            policy_action=NO_POLICY.copy() if policy_action is None else policy_action,
            action=decision.action,
            intervened=decision.intervened,
            intervention_onset=decision.onset,
            source=decision.source,
            terminated=bool(terminated),
            truncated=bool(truncated),
            success=None if success is None else bool(success),
            stamp=stamp,
            wall_time=wall_time,
            policy_version=self.policy_version,
            expert_action=self._label(received),
        )
        self.interventions += decision.onset
        info["intervention"] = self._summary(decision, received, stamp)
        info["step_record"] = record
        info["episode_id"] = self.episode_id
        if self.config.record_episodes:
            self.steps.append(record)
            if terminated or truncated:
                self.last_episode = EpisodeRecord.from_steps(
                    self.steps,
                    np.asarray(obs["state"]),
                    obs.get("images", {}),
                    episode_id=self.episode_id,
                    actor_id=self.config.actor_id,
                    extra={"sync": self.sync, "hold_time": self.config.hold_time},
                )
                info["episode_record"] = self.last_episode
        self.step_index += 1
        self._obs, self._robot = obs, dict(info.get("robot") or {})
        return obs, float(reward), bool(terminated), bool(truncated), info

    def close(self) -> None:
        self._close_streams()
        super().close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _policy_action(action: Any) -> np.ndarray | None:
        """The policy action clipped to the action space; None for no policy; ValueError (and no
        motion) for anything but 7 finite numbers."""
        if action is None:
            return None
        array = np.asarray(action, dtype=np.float64)
        if array.shape == (7,) and np.isnan(array).all():
            return None
        if array.shape != (7,) or not np.isfinite(array).all():
            raise ValueError(f"policy action must be 7 finite numbers (or all NaN: no policy), got {array.tolist()}")
        return np.clip(array, -1.0, 1.0)

    def _operator_command(self, policy_action: np.ndarray | None) -> Received | None:
        assert self.commands is not None
        proposal = None
        if self.proposals is not None:
            proposal = Proposal(
                episode=self.episode_id,
                step=self.step_index,
                state=np.asarray(self._obs["state"], dtype=np.float32),
                policy_action=NO_POLICY if policy_action is None else policy_action,
                robot=self._robot,
                stamp=time.monotonic(),
            )
            self.proposals.publish(proposal)
        if self.sync == "latest":
            return self.commands.latest()
        assert proposal is not None and self.proposals is not None
        deadline = time.monotonic() + self.config.answer_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.sync_timeouts += 1
                return None
            answer = self.commands.wait_for(
                self.episode_id, self.step_index, min(remaining, self.config.republish_interval)
            )
            if answer is not None:
                return answer
            self.proposals.publish(proposal)

    def _label(self, received: Received | None) -> np.ndarray:
        """The expert's label of this step: only an answer to this very proposal carries one."""
        if self.sync != "answer" or received is None:
            return no_label()
        return np.asarray(received.command.expert_action, dtype=np.float32)

    def _summary(self, decision: Decision, received: Received | None, stamp: float) -> dict[str, Any]:
        command = received.command if received else None
        return {
            "intervened": decision.intervened,
            "onset": decision.onset,
            "source": decision.source,
            "action": decision.action,
            "mark": decision.mark,
            "operator_present": command is not None and command.connected,
            "command_seq": command.seq if command else -1,
            "command_stamp": command.stamp if command else float("nan"),
            "applied_stamp": stamp,
            "sync_timeouts": self.sync_timeouts,
        }

    def _close_streams(self) -> None:
        if self.commands is not None:
            self.commands.close()
            self.commands = None
        if self.proposals is not None:
            self.proposals.close()
            self.proposals = None
        if self._curve is not None:
            self._curve.close()
            self._curve = None
