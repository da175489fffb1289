"""`rlif learner`: the learner as a process that actors stream to.

Transitions arrive from any number of actors over reliable streams (`wire.reliable`): each
step once, in order. Each is checked against the learner's settings; what fails is counted,
acknowledged and dropped, what passes is appended to a write-ahead log, and the batch is synced
before it is acknowledged, so that a learner killed at any moment, restarted, resumes from its newest checkpoint,
replays the log past it, and ends with every acknowledged step exactly once; actors resend what
was not acknowledged. A checkpoint records, per stream, the next sequence number it expects,
and empties the log; one is also written when the log grows past `max_log_bytes`. A replay
checks every record again and skips what it cannot use: a restart never fails on the log.

DAgger learns from the expert's label that each step carries (a simulated operator's answer);
a step without one (a person operating) is refused like a malformed one, with one log line now and
then (`learner.ingest.UNLABELLED`), and never logged.

Weights go out every `publish_every` updates (and at start), latest only, with the policy's
settings and the publish time. Updates are throttled: at most `utd_cap` updates per stored
environment step (a fast learner must not overfit a slow robot), none before `min_transitions`.
The status stream reports the figures, and a `step_budget`: the environment steps the current
update count can use, which a lockstep actor paces itself by.
"""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path
from typing import Any

from learner.ingest import UNLABELLED
from learner.learner import Learner
from learner.policy import POLICY_FILE, save_policy_file
from learner.service_config import LearnerServiceConfig
from learner.snapshots import snapshot_path
from wire.codec import Message, WireError, decode, encode
from wire.lifecycle import run_until_stopped
from wire.ratelog import RateLimitedLog
from wire.records import EpisodeRecord, RecordError, labelled
from wire.reliable import ReliableReceiver
from wire.security import Security, check_bind, host_of, server_keys
from wire.spool import MessageLog, read_log
from wire.status import StatusPublisher
from wire.transitions import Abandon, ReceivedStep, StepShape, TransitionError, read_transition
from wire.weights import WeightsPublisher

log = logging.getLogger(__name__)

WAL_NAME = "transitions.wal"


class LearnerService:
    def __init__(self, config: LearnerServiceConfig) -> None:
        self.config = config
        self.rejected = 0
        self._log = RateLimitedLog(log)
        learner_config = config.learner
        self.shape = StepShape(
            learner_config.cameras, learner_config.image_size, learner_config.state_dim, learner_config.action_dim
        )
        self.learner = Learner(config.learner, run_dir=config.run_dir)
        config.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.learner.restore()
        expected = _streams(self.learner.extra_state.get("streams"))
        self.replayed = self._replay_log(expected)
        if resumed is None and config.prior_episodes is not None:
            self._load_prior(config.prior_episodes)
        self.curve = _bound_security(config)
        secure = self.curve.setup
        self.wal = MessageLog(config.run_dir / WAL_NAME)
        self.receiver = ReliableReceiver(
            config.transitions,
            self._deliver,
            expected=expected,
            commit=self.wal.sync,
            secure=secure,
            limits=self.shape.limits(),
            max_streams=config.max_streams,
            idle_after=config.stream_idle_s,
        )
        self.weights = WeightsPublisher(config.weights, secure=secure)
        self.status = StatusPublisher(config.status, "learner", secure=secure)
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

    def _deliver(self, stream: str, seq: int, message: Message) -> bool:
        """Check, log, then use a message; one that fails the check is refused and not logged
        (the receiver acknowledges it all the same: resending it would not mend it)."""
        item = self._check(message)
        if item is None:
            return False
        self.wal.append(message.frames if message.frames is not None else _frames(stream, seq, message))
        self._use(item)
        return True

    def _check(self, message: Message) -> ReceivedStep | Abandon | None:
        try:
            item = read_transition(message, self.shape)
        except TransitionError as exc:
            self._refuse("refused a message: %s", exc)
            return None
        if (
            isinstance(item, ReceivedStep)
            and self.learner.spec.expert_labels
            and not labelled(item.record.expert_action)
        ):
            self._refuse("refused a step: %s", UNLABELLED, key="unlabelled")
            return None
        return item

    def _use(self, item: ReceivedStep | Abandon) -> None:
        try:
            if isinstance(item, Abandon):
                self.learner.abandon_episode(item.actor_id, item.episode_id)
            else:
                self.learner.add_step(
                    item.actor_id,
                    item.episode_id,
                    item.step,
                    item.record,
                    next_observation=item.final_observation,
                    expert_action=item.record.expert_action,
                )
        except ValueError as exc:  # a refusal that depends on the steps before: a replay refuses it again
            self._refuse("refused a step: %s", exc)

    def _refuse(self, message: str, reason: Exception | str, *, key: str | None = None) -> None:
        self.rejected += 1
        self._log.warning(key or message.split(":", 1)[0], message, reason)

    def _replay_log(self, expected: dict[str, int]) -> int:
        """Steps logged after the newest checkpoint, checked and fed again; `expected` advances past
        every logged message of a stream, used or not, as the receiver had acknowledged them."""
        replayed = 0
        for frames in read_log(self.config.run_dir / WAL_NAME, salvage=self._refuse_damage):
            try:
                message = decode(frames)  # the log's own limits: it may predate today's settings
            except WireError as exc:
                self._refuse("skipped an unreadable logged message: %s", exc)
                continue
            stream, seq = message.header.get("stream"), message.header.get("seq")
            if type(stream) is not str or type(seq) is not int:
                self._refuse("skipped a logged message: %s", "it has no stream and seq")
                continue
            if seq < expected.get(stream, 0):
                continue  # in the checkpoint already
            expected[stream] = seq + 1
            item = self._check(message)
            if item is not None:
                self._use(item)
                replayed += 1
        return replayed

    def _refuse_damage(self, what: str) -> None:
        self._refuse("the write-ahead log is damaged: %s", what)

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
        self.learner.extra_state["streams"] = self.receiver.expected
        path = self.learner.save_checkpoint()
        self.receiver.mark_durable()
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
            if now - self._last_checkpoint > self.config.checkpoint_every or self.wal.bytes > self.config.max_log_bytes:
                self.checkpoint()
            if now - self._last_status > 0.25:
                self._last_status = now
                self.status.publish(self.figures())
                self._log.flush()

    def close(self) -> None:
        try:
            self.receiver.poll(0.0)
            self.checkpoint()
        finally:
            self._log.flush(force=True)
            self.wal.close()
            for closable in (self.receiver, self.weights, self.status):
                closable.close()
            self.curve.close()
            self.learner.close()


def _bound_security(config: LearnerServiceConfig) -> Security:
    """CurveZMQ for the learner's three sockets; refuses to listen beyond loopback without it."""
    for address in (config.transitions, config.weights, config.status):
        check_bind(host_of(address), config.curve_secret_key, config.curve_clients)
    return Security(server_keys(config.curve_secret_key, config.curve_clients))


def _streams(stored: Any) -> dict[str, int]:
    """The next seq of every stream, as a checkpoint stored them."""
    if not isinstance(stored, dict):
        return {}
    return {stream: seq for stream, seq in stored.items() if isinstance(stream, str) and type(seq) is int}


def _frames(stream: str, seq: int, message: Message) -> list[Any]:
    header = {key: value for key, value in message.header.items() if key != "v"}
    return encode({**header, "stream": stream, "seq": seq}, message.arrays)


def run_learner(config: LearnerServiceConfig) -> int:
    """Runs the learner until SIGINT or SIGTERM (or `max_updates`); a checkpoint at the end."""
    service = LearnerService(config)
    run_until_stopped(service.run, service.request_stop, service.close)
    return 0
