"""`rlif actor`: the robot's side of learning. Runs the env at its control rate with the newest
policy from the learner, lets the operator take over, and streams every step to the learner.

Between two steps the actor applies the newest weights (latest only; the version that chose
each action is recorded), polls the learner's acknowledgements and, in lockstep simulation,
waits for the learner when it has run `pace_slack` steps ahead of what the learner's update
rate can use. If the learner is away, steps queue (up to `max_pending`), then the actor waits
with the robot holding still. If the robot server goes away, the episode is abandoned, the
actor reconnects for `robot_retry` seconds and carries on, or stops with a clear message.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import zmq

from actor.config import ActorConfig
from actor.env import OVERRUN, RobotEnv
from actor.intervention import InterventionWrapper
from learner.config import LearnerConfig
from learner.policy import ObservationMismatch, Policy
from robot_server.client import RobotError, RobotUnavailable
from wire.lifecycle import stop_on_signals
from wire.ratelog import RateLimitedLog
from wire.reliable_sender import QueueFull, ReliableSender, new_stream_id
from wire.security import Security, client_keys
from wire.status import StatusPublisher, StatusSubscriber
from wire.transitions import abandon_message, step_message
from wire.weights import WeightsSubscriber

log = logging.getLogger(__name__)

EXIT_ROBOT_LOST = 3
EXIT_NO_LEARNER = 4
EXIT_POLICY_MISFITS = 2


class Stop(Exception):
    """A signal asked the actor to stop."""


class Actor:
    def __init__(self, config: ActorConfig) -> None:
        self.config = config
        self.policy: Policy | None = None
        self.policy_config: dict[str, Any] | None = None
        self.version = -1
        self.steps = 0
        self.episodes = 0
        self.overruns = 0
        self.lateness: collections.deque[float] = collections.deque(maxlen=2000)
        self.weight_latency: collections.deque[float] = collections.deque(maxlen=100)
        self.recent: collections.deque[tuple[bool, float, int]] = collections.deque(maxlen=20)
        self.learner_progress: dict[str, Any] = {}
        self.rejected_weights = 0
        """Weights that did not fit (a wrong config, missing or misshapen arrays): ignored."""
        self._weights_log = RateLimitedLog(log)
        self.state = "starting"
        self._stop = False
        secure = _learner_security(config)
        self.sender = ReliableSender(
            config.transitions, new_stream_id(config.actor_id), max_pending=config.max_pending, secure=secure
        )
        self.weights = WeightsSubscriber(config.weights, secure=secure)
        self.learner = StatusSubscriber([config.learner_status], secure=secure)
        self.status = StatusPublisher(config.status, config.actor_id)
        self.env: InterventionWrapper | None = None
        self._last_status = 0.0

    # ------------------------------------------------------------------ lifecycle

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def _check_stop(self) -> None:
        if self._stop:
            raise Stop

    def close(self) -> None:
        self.state = "stopping"
        self._publish_status(force=True)
        try:
            if self.env is not None:
                self.env.close()
        finally:
            flushed = self.sender.flush(timeout=10.0)
            if not flushed:
                log.warning("%d steps were not acknowledged by the learner", self.sender.pending)
            for closable in (self.sender, self.weights, self.learner, self.status):
                closable.close()

    def _open_env(self) -> InterventionWrapper:
        env = RobotEnv(self.config.env)
        intervention = dataclasses.replace(
            self.config.intervention,
            actor_id=self.config.actor_id,
            record_episodes=self.config.episode_dir is not None,  # built only when they are written
        )
        return InterventionWrapper(env, intervention)

    # ------------------------------------------------------------------ weights and pacing

    def apply_weights(self, timeout: float = 0.0) -> bool:
        weights = self.weights.latest(timeout)
        if weights is None:
            return False
        config = weights.data.get("config")
        policy = self.policy
        try:
            if policy is None or (config is not None and config != self.policy_config):
                if config is None:
                    raise ValueError("they carry no policy config")
                policy = Policy(LearnerConfig.from_dict(config), seed=self.config.seed)
            policy.load_arrays(weights.arrays)  # checks every array before it copies any
            if self.env is not None:
                self._check_fits(policy, self.env)
        except (ValueError, TypeError, KeyError) as exc:
            self.rejected_weights += 1
            self._weights_log.warning("weights", "weights version %d ignored: %s", weights.version, exc)
            return False
        self.policy, self.policy_config = policy, config if config is not None else self.policy_config
        self.version = weights.version
        published = weights.data.get("published")
        if isinstance(published, float):
            self.weight_latency.append(time.monotonic() - published)
        if self.env is not None:
            self.env.policy_version = self.version
        return True

    @staticmethod
    def _check_fits(policy: Policy, env: InterventionWrapper) -> None:
        """Raises ObservationMismatch, naming both shapes, unless the policy fits the env's observations."""
        robot = env.unwrapped
        assert isinstance(robot, RobotEnv)
        policy.check_observations(*robot.observation_shapes())

    def _wait_for_first_weights(self) -> None:
        self.state = "waiting for the learner's first weights"
        deadline = time.monotonic() + self.config.weights_timeout
        while self.policy is None:
            self._check_stop()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no weights from the learner at {self.config.weights} within {self.config.weights_timeout:.0f} s; "
                    "is `rlif learner` running and reachable?"
                )
            self.apply_weights(timeout=0.2)
            self._publish_status()

    def _learner_allows_step(self) -> bool:
        """Lockstep pacing: the learner has used (nearly) what this actor sent."""
        for _source, data in self.learner.poll(0.0).items():
            self.learner_progress = data
        if not (self.config.pace and self.config.env.mode == "lockstep"):
            return True
        budget = self.learner_progress.get("step_budget")
        if not isinstance(budget, int):
            return True  # an older learner without pacing figures: do not block
        return self.sender.next_seq <= budget + self.config.pace_slack

    def _between_steps(self) -> None:
        """Acks, weights, pacing and a full outgoing queue: what happens between two steps."""
        self.sender.poll()
        self.apply_weights()
        waited = False
        while self.sender.pending >= self.config.max_pending or not self._learner_allows_step():
            self._check_stop()
            self.state = (
                "waiting: the learner is not acknowledging"
                if self.sender.pending >= self.config.max_pending
                else "waiting for the learner to catch up"
            )
            waited = True
            self.sender.poll(0.05)
            self.apply_weights()
            self._publish_status()
        if waited:
            self.state = "running"

    # ------------------------------------------------------------------ episodes

    def _send(self, data: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        while True:
            try:
                self.sender.send(data, arrays)
                return
            except QueueFull:
                self.state = "waiting: the learner is not acknowledging"
                self._publish_status()
                self._check_stop()
                self.sender.poll(0.1)

    def run_episode(self, env: InterventionWrapper, seed: int | None) -> None:
        obs, info = env.reset(seed=seed)
        episode_id = info["episode_id"]
        step_index = 0
        done = False
        returns, intervened_steps = 0.0, 0
        try:
            while not done:
                self._between_steps()
                self._check_stop()
                assert self.policy is not None
                action = self.policy.act(obs, deterministic=self.config.deterministic)
                obs, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
                record = info["step_record"]
                self._send(*step_message(self.config.actor_id, episode_id, step_index, record, obs if done else None))
                returns += reward
                intervened_steps += record.intervened
                late = info.get("timing", {}).get("late")
                if late is not None:
                    self.lateness.append(late)
                    self.overruns += late > OVERRUN
                step_index += 1
                self.steps += 1
                self._publish_status()
        except (RobotUnavailable, RobotError, Stop):
            if step_index:
                self._send(abandon_message(self.config.actor_id, episode_id))
            raise
        self.episodes += 1
        success = bool(info.get("success")) or bool(record.success)
        self.recent.append((success, intervened_steps / max(1, step_index), env.interventions))
        if self.config.episode_dir is not None and env.last_episode is not None:
            env.last_episode.save(self.config.episode_dir / f"{episode_id}.npz")
        log.info(
            "episode %d: %d steps, %s, %d of them by the operator, weights v%d",
            self.episodes,
            step_index,
            "success" if success else "no success",
            intervened_steps,
            self.version,
        )

    def _reconnect(self, error: Exception) -> InterventionWrapper:
        """The robot server went away: retry for `robot_retry` seconds, else stop."""
        self.state = f"robot server unavailable: {error}"
        log.warning("%s; reconnecting for up to %.0f s", self.state, self.config.robot_retry)
        deadline = time.monotonic() + self.config.robot_retry
        if self.env is not None:
            self.env.close()
            self.env = None
        while time.monotonic() < deadline:
            self._check_stop()
            self._publish_status(force=True)
            try:
                env = self._open_env()
            except (RobotUnavailable, RobotError, OSError) as exc:
                log.info("robot server still unavailable: %s", exc)
                time.sleep(1.0)
                continue
            env.policy_version = self.version
            self.state = "running"
            log.info("robot server back; carrying on")
            return env
        raise RobotUnavailable(f"the robot server did not come back within {self.config.robot_retry:.0f} s")

    def run(self) -> int:
        self._wait_for_first_weights()
        self.env = self._open_env()
        assert self.policy is not None  # the first weights were applied
        self._check_fits(self.policy, self.env)
        self.env.policy_version = self.version
        self.state = "running"
        rng = np.random.default_rng(self.config.seed)
        while not self.config.episodes or self.episodes < self.config.episodes:
            try:
                self.run_episode(self.env, int(rng.integers(2**31)))
            except (RobotUnavailable, RobotError) as exc:
                self.env = self._reconnect(exc)
        return 0

    # ------------------------------------------------------------------ reporting

    def figures(self) -> dict[str, Any]:
        lateness = np.array(self.lateness) if self.lateness else np.zeros(1)
        recent = list(self.recent)
        return {
            "state": self.state,
            "episodes": self.episodes,
            "steps": self.steps,
            "success_rate": float(np.mean([r[0] for r in recent])) if recent else None,
            "intervention_rate": float(np.mean([r[1] for r in recent])) if recent else None,
            "weights_version": self.version,
            "pending": self.sender.pending,
            "sent": self.sender.next_seq,
            "overruns": self.overruns,
            "late_p50_ms": float(np.percentile(lateness, 50) * 1e3),
            "late_p99_ms": float(np.percentile(lateness, 99) * 1e3),
            "weights_latency_ms": float(np.median(self.weight_latency) * 1e3) if self.weight_latency else None,
        }

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_status > 0.5:
            self._last_status = now
            self.status.publish(self.figures())


def _learner_security(config: ActorConfig) -> Callable[[zmq.Socket], None] | None:
    """CurveZMQ client keys for the learner's sockets, when configured (both or neither)."""
    if (config.learner_public_key is None) != (config.client_secret_key is None):
        raise ValueError("give both learner_public_key and client_secret_key, or neither")
    return Security(client_keys(config.learner_public_key, config.client_secret_key)).setup


def raise_priority(priority: int) -> bool:
    """SCHED_FIFO for this process (not for processes it starts); False, with a warning, if not allowed."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except (PermissionError, OSError, AttributeError) as exc:
        log.warning("could not switch to real-time priority %d (%s); running with normal scheduling", priority, exc)
        return False
    log.info("running under SCHED_FIFO priority %d", priority)
    return True


def run_actor(config: ActorConfig) -> int:
    if config.env.mode == "realtime":
        raise_priority(config.realtime_priority)
    actor = Actor(config)
    with stop_on_signals(actor.request_stop):
        try:
            return actor.run()
        except Stop:
            log.info("stopped")
            return 0
        except RobotUnavailable as exc:
            log.error("%s; stopping (the robot server's watchdog holds the arm)", exc)
            return EXIT_ROBOT_LOST
        except TimeoutError as exc:
            log.error("%s", exc)
            return EXIT_NO_LEARNER
        except ObservationMismatch as exc:
            log.error("the learner's policy does not fit this robot: %s", exc)
            return EXIT_POLICY_MISFITS
        finally:
            actor.close()
