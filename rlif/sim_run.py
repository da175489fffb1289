"""`rlif sim` (and `make sim`): the main job against the simulation. Starts the simulated robot
server, the learner, a simulated operator and the actor as separate processes, shows progress
in the terminal, and at the end (time up, or Ctrl-C) stops them in reverse order and plots
success rate and intervention rate against environment steps and wall time.

Everything of a run lives in `run_dir`: the processes' settings (YAML) and logs, TensorBoard
logs, metrics.csv, checkpoints and the PNG curves. Running again with the same `run_dir`
resumes from its newest checkpoint (`--fresh` starts over).
"""

from __future__ import annotations

import dataclasses
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actor.config import ActorConfig
from actor.env import EnvConfig
from actor.intervention import InterventionConfig
from learner.config import LearnerConfig
from learner.service_config import LearnerServiceConfig
from rlif.processes import ChildProcess, ProcessGroup
from rlif.sim_demo import free_port, wait_for_server
from robot_server.backends.mujoco_sim.config import SimConfig
from wire.status import StatusSubscriber

SIM_LEARNER = LearnerConfig(
    image_size=(64, 64),
    batch_size=128,
    min_transitions=500,
    capacity=60_000,
    log_every=50,
    discount=0.9,
    init_temperature=0.02,
    bc_weight=2.5,
)
"""Learner defaults of the sim run, chosen for visible progress within 20 minutes on a 2-core CPU:
small images and batches, a shorter horizon, little initial exploration noise, and a
behaviour-cloning term on the demonstrations (`--learner.bc-weight 0` for SAC alone)."""

DEMOS_FOLDER = "demos"
"""Inside run_dir: the scripted demonstrations, recorded first, that the learner loads as prior data."""


@dataclass(frozen=True)
class SimRunConfig:
    """The learner/actor pair against the simulated arm and a simulated operator."""

    minutes: float = 20.0
    """Run for this long, then stop and plot (0: until Ctrl-C)."""
    run_dir: Path = Path("runs/sim")
    """Settings, logs, TensorBoard, metrics.csv, checkpoints and plots of the run."""
    fresh: bool = False
    """Start over: delete run_dir first instead of resuming from its checkpoint."""
    preset: str = "medium"
    """The simulated operator's expert: perfect, good (~90 %), medium (~50 %), poor (~20 %)."""
    model: str = "value"
    """When the operator takes over: value (value-based), random, or expert (always)."""
    images: bool = True
    """Observe the front and wrist cameras (False: proprio state only)."""
    episode_steps: int = 60
    """Steps per episode (6 s of simulated time)."""
    learner: LearnerConfig = SIM_LEARNER
    """The learner's settings (cameras and image size follow `images` and the server)."""
    scene_range: float = 0.4
    """Fraction of the simulation's cube-placement ranges used (position and yaw, about their centres);
    1.0 is the full task."""
    eval_episodes: int = 10
    """At the end, episodes of the policy alone (deterministic, no operator) per evaluated
    snapshot, on a fresh server; 0 skips the evaluation."""
    eval_points: int = 6
    """Policy snapshots evaluated at the end, spread over the run (the first and the last
    included); their success rates are drawn on the success plot."""
    demos: int = 20
    """Demonstrations by the `good` scripted expert, recorded first and loaded as prior data."""
    utd_cap: float = 1.0
    """At most this many updates per environment step; the actor waits for the learner beyond it."""
    seed: int = 0
    """Seed of the operator, the scenes and the learner."""
    verbose: bool = False
    """Also print the processes' logs (they always go to run_dir/logs)."""


@dataclass
class Ports:
    server: int = field(default_factory=free_port)
    server_stream: int = field(default_factory=free_port)
    transitions: int = field(default_factory=free_port)
    weights: int = field(default_factory=free_port)
    learner_status: int = field(default_factory=free_port)
    actor_status: int = field(default_factory=free_port)
    commands: int = field(default_factory=free_port)
    proposals: int = field(default_factory=free_port)

    @staticmethod
    def address(port: int) -> str:
        return f"tcp://127.0.0.1:{port}"


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def write_settings(path: Path, config: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_plain(config), sort_keys=False))
    return path


def learner_settings(config: SimRunConfig, ports: Ports, image_size: int) -> LearnerServiceConfig:
    cameras = ("front", "wrist") if config.images else ()
    learner = dataclasses.replace(
        config.learner, cameras=cameras, image_size=(image_size, image_size), seed=config.seed
    )
    return LearnerServiceConfig(
        learner=learner,
        run_dir=config.run_dir,
        transitions=ports.address(ports.transitions),
        weights=ports.address(ports.weights),
        status=ports.address(ports.learner_status),
        utd_cap=config.utd_cap,
        prior_episodes=config.run_dir / DEMOS_FOLDER if config.demos else None,
    )


def actor_settings(config: SimRunConfig, ports: Ports) -> ActorConfig:
    return ActorConfig(
        actor_id="sim-actor",
        env=EnvConfig(
            server=ports.address(ports.server),
            mode="lockstep",
            images=config.images,
            max_episode_steps=config.episode_steps,
        ),
        intervention=InterventionConfig(
            commands=ports.address(ports.commands), proposals=ports.address(ports.proposals), sync="answer"
        ),
        transitions=ports.address(ports.transitions),
        weights=ports.address(ports.weights),
        learner_status=ports.address(ports.learner_status),
        status=ports.address(ports.actor_status),
        seed=config.seed,
    )


def _rlif(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlif", *args]


def server_command(config: SimRunConfig, ports: Ports, image_size: int) -> list[str]:
    """`rlif server` in lockstep, its scenes drawn from `scene_range` of the cube placements."""
    return _rlif(
        "server",
        "--port",
        str(ports.server),
        "--pub-port",
        str(ports.server_stream),
        "--mode",
        "lockstep",
        "--seed",
        str(config.seed),
        "--cameras.image-height",
        str(image_size),
        "--cameras.image-width",
        str(image_size),
        *scene_flags(config.scene_range),
    )


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
        learner, actor = self.latest.get("learner", {}), self.latest.get("sim-actor", {})
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


def run_sim(config: SimRunConfig) -> int:
    if config.fresh and config.run_dir.exists():
        shutil.rmtree(config.run_dir)
    settings_dir, log_dir = config.run_dir / "settings", config.run_dir / "logs"
    ports = Ports()
    image_size = config.learner.image_size[0]
    learner_yaml = write_settings(settings_dir / "learner.yaml", learner_settings(config, ports, image_size))
    actor_yaml = write_settings(settings_dir / "actor.yaml", actor_settings(config, ports))
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    previous = signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    progress = Progress(ports)
    failed: list[ChildProcess] = []
    group = ProcessGroup()
    print(f"rlif sim: run folder {config.run_dir} (logs in {log_dir}); Ctrl-C stops and plots", flush=True)
    try:
        server = group.start(ChildProcess("server", server_command(config, ports, image_size), log_dir / "server.log"))
        wait_for_server(ports.address(ports.server), server.process)  # type: ignore[arg-type]
        if config.demos and not (config.run_dir / "checkpoints").exists():
            _record_demos(config, ports, log_dir)
        group.start(
            ChildProcess(
                "learner", _rlif("learner", "--config", str(learner_yaml)), log_dir / "learner.log", grace=60.0
            )
        )
        group.start(
            ChildProcess(
                "operator",
                _rlif(
                    "operator",
                    "--preset",
                    config.preset,
                    "--model",
                    config.model,
                    "--seed",
                    str(config.seed),
                    "--proposals",
                    ports.address(ports.proposals),
                    "--bind",
                    ports.address(ports.commands),
                ),
                log_dir / "operator.log",
            )
        )
        group.start(ChildProcess("actor", _rlif("actor", "--config", str(actor_yaml)), log_dir / "actor.log"))
        deadline = time.monotonic() + config.minutes * 60 if config.minutes > 0 else float("inf")
        while not stop_requested and time.monotonic() < deadline:
            time.sleep(0.2)
            progress.poll()
            progress.maybe_print(every=5.0)
            failed = group.dead()
            if failed:
                break
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
        progress.poll()
        print(progress.line(), flush=True)
        print("stopping: actor, operator, learner (it writes a checkpoint), server ...", flush=True)
        codes = group.stop()
        progress.close()
        signal.signal(signal.SIGINT, previous)
    for child in failed:
        print(f"\n{child.name} exited early with code {child.returncode()}; the end of {child.log_path}:")
        print(_tail(child.log_path))
    unclean = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT, None)}
    if unclean:
        print(f"processes that did not stop cleanly: {unclean}")
    _plot(config.run_dir)
    if config.eval_episodes > 0 and config.eval_points > 0 and not failed:
        from rlif.sim_eval import evaluate_snapshots

        if evaluate_snapshots(config, server_command, image_size, log_dir):
            _plot(config.run_dir, quiet=True)
    print(f"TensorBoard: tensorboard --logdir {config.run_dir}")
    return 1 if failed else 0


def _plot(run_dir: Path, quiet: bool = False) -> None:
    try:
        from learner.plot import plot_run

        for path in plot_run(run_dir):
            if not quiet:
                print(f"plot: {path}")
    except (FileNotFoundError, ValueError) as exc:
        print(f"no plots: {exc}")


def scene_flags(fraction: float) -> list[str]:
    """Server flags that shrink the cube's placement ranges about their centres."""
    sim = SimConfig()
    flags = []
    for name in ("cube_x", "cube_y", "cube_yaw"):
        low, high = getattr(sim, name)
        centre, half = (low + high) / 2, (high - low) / 2 * fraction
        flags += [f"--arm.{name.replace('_', '-')}", f"{centre - half:.4f}", f"{centre + half:.4f}"]
    return flags


def _record_demos(config: SimRunConfig, ports: Ports, log_dir: Path) -> None:
    """Scripted demonstrations into run_dir/demos, which the learner loads as prior data."""
    print(f"recording {config.demos} demonstrations of the scripted expert ...", flush=True)
    command = _rlif(
        "record",
        "--scripted",
        "good",
        "--episodes",
        str(config.demos),
        "--out",
        str(config.run_dir / DEMOS_FOLDER),
        "--server",
        ports.address(ports.server),
        "--max-episode-steps",
        str(config.episode_steps),
        "--commands",
        ports.address(free_port()),
        "--proposals",
        ports.address(free_port()),
        "--seed",
        str(config.seed + 10_000),
        *([] if config.images else ["--no-images"]),
    )
    recorder = ChildProcess("record", command, log_dir / "record.log").start()
    assert recorder.process is not None
    if recorder.process.wait(600) != 0:
        raise RuntimeError(f"recording demonstrations failed; see {log_dir / 'record.log'}")


def _tail(path: Path | None, lines: int = 20) -> str:
    if path is None or not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
