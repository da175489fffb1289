"""`rlif sim`'s progress line: the learner's and the actor's status, every few seconds."""

from __future__ import annotations

import time
from typing import Any

from rlif.sim_settings import ACTOR_ID, Ports
from wire.status import StatusSubscriber


class Progress:
    """One line of figures, every few seconds, from the learner's and the actor's status."""

    def __init__(self, ports: Ports) -> None:
        self.watch = StatusSubscriber([ports.address(ports.learner_status), ports.address(ports.actor_status)])
        self.latest: dict[str, dict[str, Any]] = {}
        self.started = time.monotonic()
        self._last_print = 0.0

    def poll(self) -> None:
        self.latest.update(self.watch.poll(0.0))

    def line(self) -> str:
        learner, actor = self.latest.get("learner", {}), self.latest.get(ACTOR_ID, {})
        elapsed = time.monotonic() - self.started

        def rate(value: Any) -> str:
            return f"{100 * value:3.0f} %" if isinstance(value, float) else "  - "

        return (
            f"{int(elapsed // 60):3d}:{int(elapsed % 60):02d}  episode {actor.get('episodes', 0):4d}  "
            f"steps {learner.get('env_steps', 0):6d}  success {rate(learner.get('success_rate'))}  "
            f"interventions {rate(learner.get('intervention_rate'))}  updates {learner.get('updates', 0):6d} "
            f"({learner.get('updates_per_s', 0.0):4.1f}/s)  weights v{actor.get('weights_version', -1)}"
            + (f"  [{actor['state']}]" if actor.get("state") not in (None, "running") else "")
        )

    def maybe_print(self, every: float) -> None:
        now = time.monotonic()
        if now - self._last_print >= every:
            self._last_print = now
            print(self.line(), flush=True)

    def close(self) -> None:
        self.watch.close()
