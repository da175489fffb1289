"""`rlif learner`: the learner as a process that actors stream to.

Transitions arrive from any number of actors over reliable streams (`wire.reliable`): each
step once, in order. Before a batch is acknowledged it is appended to a write-ahead log and
synced, so that a learner killed at any moment, restarted, resumes from its newest checkpoint,
replays the log past it, and ends with every acknowledged step exactly once; actors resend what
was not acknowledged. A checkpoint records, per stream, the next sequence number it expects,
and empties the log.

Weights go out every `publish_every` updates (and at start), latest only, with the policy's
settings and the publish time. Updates are throttled: at most `utd_cap` updates per stored
environment step (a fast learner must not overfit a slow robot), none before `min_transitions`.
The status stream reports the figures, and a `step_budget`: the environment steps the current
update count can use, which a lockstep actor paces itself by.
"""

from __future__ import annotations

import collections
import logging
import signal
import time
from pathlib import Path
from typing import Any

import zmq

from learner.learner import Learner
from learner.policy import POLICY_FILE, save_policy_file
from learner.service_config import LearnerServiceConfig
from learner.snapshots import snapshot_path
from wire.codec import Message, WireError, decode, encode
from wire.records import EpisodeRecord, RecordError
from wire.reliable import ReliableReceiver
from wire.security import CurveServer, check_bind, host_of
from wire.spool import MessageLog, read_log
from wire.status import StatusPublisher
from wire.transitions import TransitionError, read_step
from wire.weights import WeightsPublisher

log = logging.getLogger(__name__)

WAL_NAME = "transitions.wal"


class LearnerService:
    def __init__(self, config: LearnerServiceConfig) -> None:
        self.config = config
        self.learner = Learner(config.learner, run_dir=config.run_dir)
        config.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.learner.restore()
        expected = dict(self.learner.extra_state.get("streams", {}))
        self.replayed = self._replay_log(expected)
        if resumed is None and config.prior_episodes is not None:
            self._load_prior(config.prior_episodes)
        self.curve = _bound_security(config)
        secure = self.curve.secure if self.curve is not None else None
        self.wal = MessageLog(config.run_dir / WAL_NAME)
        self.receiver = ReliableReceiver(
            config.transitions, self._deliver, expected=expected, commit=self.wal.sync, secure=secure
        )
        self.weights = WeightsPublisher(config.weights, secure=secure)
        self.status = StatusPublisher(config.status, "learner", secure=secure)
        self.rejected = 0
        self._stop = False
        self._last_checkpoint = time.monotonic()
        self._last_status = 0.0
        self._update_times: collections.deque[float] = collections.deque(maxlen=50)
        log.info(
            "learner up: %s, resumed from update %s, %d logged steps replayed; transitions on %s, weights on %s",
            config.learner.algorithm,
            resumed,
            self.replayed,
            config.transitions,
            config.weights,
        )

    # ------------------------------------------------------------------ transitions in

    def _ingest(self, message: Message) -> None:
        data = message.header.get("data") or {}
        if data.get("kind") == "abandon":
            actor_id, episode_id = data.get("actor_id"), data.get("episode_id")
            if isinstance(actor_id, str) and isinstance(episode_id, str):
                self.learner.abandon_episode(actor_id, episode_id)
            return
        try:
            step = read_step(message)
            self.learner.add_step(
                step.actor_id, step.episode_id, step.step, step.record, next_observation=step.final_observation
            )
        except (TransitionError, ValueError) as exc:
            # Stored in the log and acknowledged all the same: resending it would not mend it.
            self.rejected += 1
            log.warning("rejected a step: %s", exc)

    def _deliver(self, stream: str, seq: int, message: Message) -> None:
        self.wal.append(_frames(stream, seq, message))
        self._ingest(message)

    def _replay_log(self, expected: dict[str, int]) -> int:
        """Steps logged after the newest checkpoint, fed again; `expected` advances past them."""
        replayed = 0
        for frames in read_log(self.config.run_dir / WAL_NAME):
            try:
                message = decode(frames)
            except WireError as exc:
                log.warning("skipped an unreadable logged message: %s", exc)
                continue
            stream, seq = message.header.get("stream"), message.header.get("seq")
            if not isinstance(stream, str) or type(seq) is not int or seq < expected.get(stream, 0):
                continue
            self._ingest(message)
            expected[stream] = seq + 1
            replayed += 1
        return replayed

    def _load_prior(self, folder: Path) -> None:
        paths = sorted(folder.glob("*.npz"))
        for path in paths:
            try:
                self.learner.add_episode(EpisodeRecord.load(path), prior=True)
            except (RecordError, ValueError) as exc:
                log.warning("skipped prior episode %s: %s", path, exc)
        log.info("loaded %d prior episodes from %s", len(paths), folder)

    # ------------------------------------------------------------------ learning

    def step_budget(self) -> int:
        """Environment steps that the updates so far can use, at `utd_cap`."""
        floor = max(self.config.learner.min_transitions, self.config.learner.batch_size)
        return int(max(floor, self.learner.update_step / max(self.config.utd_cap, 1e-9)))

    def may_update(self) -> bool:
        learner = self.learner
        return learner.ready() and learner.update_step < self.config.utd_cap * max(learner.env_steps, 1)

    def publish(self) -> None:
        version = self.learner.update_step
        if version <= self.weights.version:
            return
        data = {"config": self.config.learner.to_dict(), "published": time.monotonic(), "updates": version}
        self.weights.publish(version, self.learner.export_policy(), data)

    def checkpoint(self) -> Path:
        self.learner.extra_state["streams"] = dict(self.receiver.expected)
        path = self.learner.save_checkpoint()
        self._save_policy()
        self.wal.clear()  # everything in it is in the checkpoint now
        self._last_checkpoint = time.monotonic()
        return path

    def _save_policy(self) -> None:
        """The newest policy as run_dir/policy.npz, and a snapshot of it in run_dir/policies."""
        arrays, run_dir = self.learner.export_policy(), self.config.run_dir
        save_policy_file(run_dir / POLICY_FILE, arrays, self.config.learner)
        snapshot = snapshot_path(run_dir, self.learner.env_steps, self.learner.update_step)
        save_policy_file(snapshot, arrays, self.config.learner)

    def figures(self) -> dict[str, Any]:
        learner = self.learner
        recent = self._update_times
        rate = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        return {
            "updates": learner.update_step,
            "updates_per_s": rate,
            "env_steps": learner.env_steps,
            "episodes": learner.episodes,
            "weights_version": self.weights.version,
            "step_budget": self.step_budget(),
            "buffers": {name: len(buffer) for name, buffer in learner.buffers.items()},
            "rejected": self.rejected,
            "duplicates": self.receiver.duplicates,
            **learner.window.values(),
        }

    def request_stop(self, *_: object) -> None:
        self._stop = True

    def run(self) -> None:
        self.publish()  # version 0 on a fresh start: actors can begin before the first update
        if self.learner.update_step == 0:
            self._save_policy()
        while not self._stop:
            self.receiver.poll(0.0 if self.may_update() else 0.02)
            self.weights.poll()
            if self.may_update():  # again: the poll may have brought the steps it waited for
                self.learner.update()
                self._update_times.append(time.monotonic())
                if self.learner.update_step % self.config.publish_every == 0:
                    self.publish()
                if self.config.max_updates and self.learner.update_step >= self.config.max_updates:
                    break
            now = time.monotonic()
            if now - self._last_checkpoint > self.config.checkpoint_every:
                self.checkpoint()
            if now - self._last_status > 0.25:
                self._last_status = now
                self.status.publish(self.figures())

    def close(self) -> None:
        try:
            self.receiver.poll(0.0)
            self.checkpoint()
        finally:
            self.wal.close()
            for closable in (self.receiver, self.weights, self.status):
                closable.close()
            if self.curve is not None:
                self.curve.stop()
            self.learner.close()


def _bound_security(config: LearnerServiceConfig) -> CurveServer | None:
    """CurveZMQ for the learner's three sockets; refuses to listen beyond loopback without it."""
    for address in (config.transitions, config.weights, config.status):
        check_bind(host_of(address), config.curve_secret_key, config.curve_clients)
    if config.curve_secret_key is None or config.curve_clients is None:
        return None
    return CurveServer(zmq.Context.instance(), config.curve_secret_key, config.curve_clients)


def _frames(stream: str, seq: int, message: Message) -> list[Any]:
    header = {key: value for key, value in message.header.items() if key != "v"}
    return encode({**header, "stream": stream, "seq": seq}, message.arrays)


def run_learner(config: LearnerServiceConfig) -> int:
    service = LearnerService(config)
    signal.signal(signal.SIGINT, service.request_stop)
    signal.signal(signal.SIGTERM, service.request_stop)
    try:
        service.run()
    finally:
        service.close()
    return 0
