"""Evaluations of a `rlif sim` run's policies alone: deterministic, without the operator, each on
a lockstep simulated server of its own.

At the end of `rlif sim`: each chosen snapshot (see `learner.snapshots`) runs `rlif eval` for
`eval_episodes` episodes on the run's scenes. The success rates go into the run's metrics.csv
(and TensorBoard) as `eval/success_rate`, with the episode count as `eval/episodes`, at the
snapshot's environment steps, so the success plot shows what the policy does by itself, with its
confidence interval; snapshots already evaluated in an earlier session of the same run are skipped.

Afterwards: `rlif eval --run RUN_DIR` evaluates the run's final policy with the run's own
settings (`evaluate_run`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from actor.config import ActorConfig, EvalConfig
from learner.metrics import EVAL_EPISODES_TAG, EVAL_SUCCESS_TAG, read_metrics, wilson_interval
from learner.snapshots import Snapshot, final_policy, list_snapshots, pick_evenly
from rlif import pair_cli
from rlif.children import configured_child, server_child
from rlif.config_files import load_config
from rlif.processes import ProcessGroup
from rlif.sim_config import SimRunConfig
from rlif.sim_settings import Ports, eval_settings, server_settings
from robot_server.backends.mujoco_sim.config import SimCamerasConfig, SimConfig
from robot_server.config import ServerConfig

RUN_SERVER = "eval_run_server"
"""`rlif eval --run`'s server: its settings and log in the run folder under this name."""


def evaluate_snapshots(config: SimRunConfig, log_dir: Path) -> int:
    """Evaluates the snapshots not yet evaluated; returns how many were."""
    done = {row[1] for row in read_metrics(config.run_dir).get(EVAL_SUCCESS_TAG, [])}
    chosen = [s for s in pick_evenly(list_snapshots(config.run_dir), config.eval_points) if s.updates not in done]
    if not chosen:
        return 0
    print(
        f"evaluating the policy alone at {len(chosen)} points of the run, {config.eval_episodes} episodes each "
        "(deterministic, no operator; Ctrl-C skips) ...",
        flush=True,
    )
    ports = Ports()
    settings_dir = config.run_dir / "settings"
    image_size = config.learner.image_size[0]
    results: list[tuple[Snapshot, int, int]] = []
    try:
        with ProcessGroup() as group:
            group.start(server_child(server_settings(config, ports, image_size), settings_dir, log_dir, "eval_server"))
            for snapshot in chosen:
                outcome = _evaluate(config, snapshot, ports, settings_dir, log_dir)
                if outcome is None:
                    break
                results.append((snapshot, *outcome))
                print(
                    f"  policy after {snapshot.env_steps:6d} steps ({snapshot.updates} updates): {_rate(*outcome)}",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("evaluation skipped", flush=True)
    _record(config.run_dir, results)
    return len(results)


def _rate(successes: int, episodes: int) -> str:
    """ "4/10 successes (40 %, 95 % interval 17-69 %)"."""
    low, high = wilson_interval(successes, episodes)
    return (
        f"{successes}/{episodes} successes ({100 * successes / episodes:.0f} %, "
        f"95 % interval {100 * low:.0f}-{100 * high:.0f} %)"
    )


def _evaluate(
    config: SimRunConfig, snapshot: Snapshot, ports: Ports, settings_dir: Path, log_dir: Path
) -> tuple[int, int] | None:
    report_path = log_dir / "eval_report.json"
    report_path.unlink(missing_ok=True)
    settings = eval_settings(config, ports, snapshot.path, report_path)
    with configured_child("eval", "eval", settings, settings_dir, log_dir) as evaluation:
        code = evaluation.wait(60 + 20 * config.eval_episodes)
    if code != 0 or not report_path.exists():
        print(f"the evaluation of {snapshot.path} failed (exit {code}); see {evaluation.log_path}", flush=True)
        return None
    report = json.loads(report_path.read_text())
    return int(report["successes"]), int(report["episodes"])


def _record(run_dir: Path, results: list[tuple[Snapshot, int, int]]) -> None:
    if not results:
        return
    from learner.metrics import MetricsLogger

    metrics = MetricsLogger(run_dir)
    try:
        for snapshot, successes, episodes in results:
            metrics.log(
                {EVAL_SUCCESS_TAG: successes / episodes, EVAL_EPISODES_TAG: episodes},
                step=snapshot.updates,
                env_steps=snapshot.env_steps,
                wall_time=snapshot.wall_time,
            )
    finally:
        metrics.close()
    with (run_dir / "eval.txt").open("a") as file:
        for snapshot, successes, episodes in results:
            file.write(f"{snapshot.path.name}: {_rate(successes, episodes)}, policy alone\n")


class RunSettingsError(ValueError):
    """A folder without the settings of a `rlif sim` run that `rlif eval --run` needs."""


@dataclass(frozen=True)
class RunSettings:
    """What a `rlif sim` run's processes were started with (its settings/*.yaml)."""

    server: ServerConfig
    actor: ActorConfig


def read_run_settings(run_dir: Path) -> RunSettings:
    paths = {name: run_dir / "settings" / f"{name}.yaml" for name in ("server", "actor")}
    missing = [str(path) for path in paths.values() if not path.exists()]
    if missing:
        raise RunSettingsError(f"{run_dir} is not a run folder of `rlif sim`: it has no {' or '.join(missing)}")
    server = load_config(ServerConfig(), paths["server"])
    if not isinstance(server.arm, SimConfig):
        raise RunSettingsError(f"--run evaluates on the simulated arm; {paths['server']} has a {server.arm.type} arm")
    return RunSettings(server, load_config(ActorConfig(), paths["actor"]))


def run_eval_settings(
    config: EvalConfig, run: RunSettings, ports: Ports, policy: Path
) -> tuple[ServerConfig, EvalConfig]:
    """The server and the evaluation of `rlif eval --run`: the run's server and env settings on
    fresh loopback ports, in lockstep, with `config`'s scene range, episodes, seed and outputs."""
    arm = run.server.arm
    if config.scene_range is not None and isinstance(arm, SimConfig):
        full = SimConfig()
        arm = dataclasses.replace(
            arm, cube_x=full.cube_x, cube_y=full.cube_y, cube_yaw=full.cube_yaw, scene_range=config.scene_range
        )
    server = dataclasses.replace(
        run.server, host="127.0.0.1", port=ports.server, pub_port=ports.server_stream, mode="lockstep", arm=arm
    )
    actor = EvalConfig().actor
    actor = dataclasses.replace(
        actor,
        env=dataclasses.replace(run.actor.env, server=ports.address(ports.server), mode="lockstep"),
        intervention=dataclasses.replace(actor.intervention, commands=ports.address(ports.commands)),
    )
    return server, dataclasses.replace(config, actor=actor, policy=policy, run=None, scene_range=None)


def evaluate_run(config: EvalConfig) -> int:
    """`rlif eval --run RUN_DIR`: the run's final policy (or --policy) with the run's settings."""
    if config.run is None:
        raise ValueError("evaluate_run needs a run folder (--run)")
    run = read_run_settings(config.run)
    policy = config.policy or final_policy(config.run)
    server, evaluation = run_eval_settings(config, run, Ports(), policy)
    print(f"rlif eval: {policy} with the settings of {config.run}: {describe(server, evaluation)}", flush=True)
    with ProcessGroup() as group:
        group.start(server_child(server, config.run / "settings", config.run / "logs", RUN_SERVER))
        return pair_cli.evaluate(evaluation)


def describe(server: ServerConfig, evaluation: EvalConfig) -> str:
    """The settings an evaluation runs on, in words."""
    env, arm, cameras = evaluation.actor.env, server.arm, server.cameras
    if not env.images:
        observed = "state only"
    elif isinstance(cameras, SimCamerasConfig):
        observed = f"cameras {', '.join(env.cameras)} at {cameras.image_height}x{cameras.image_width}"
    else:
        observed = f"cameras {', '.join(env.cameras)}"
    scene = _scene(arm) if isinstance(arm, SimConfig) else f"the {arm.type} arm"
    return (
        f"{env.max_episode_steps}-step episodes, {observed}, {scene}; "
        f"{evaluation.episodes} episodes, seed {evaluation.seed}"
    )


def _scene(arm: SimConfig) -> str:
    """Where the cube is placed, as a fraction of the simulation's full placement ranges."""
    used = [
        (high - low) / (full_high - full_low)
        for (low, high), (full_low, full_high) in zip(arm.cube_ranges(), SimConfig().cube_ranges(), strict=True)
    ]
    if min(used) > 0.999:
        return "the cube over its full placement ranges"
    if max(used) - min(used) < 0.001:
        fraction = f"{100 * used[0]:.0f} %"
        return f"the cube within the middle {fraction} of its placement ranges (--scene-range 1.0: the full task)"
    (x0, x1), (y0, y1), (yaw0, yaw1) = arm.cube_ranges()
    return f"the cube at x {x0:.3f}-{x1:.3f} m, y {y0:.3f}-{y1:.3f} m, yaw {yaw0:.3f}-{yaw1:.3f} rad"
