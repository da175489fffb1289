"""A whole sweep: the expert levels measured, the demonstrations recorded, then every run not yet
done, `workers` at a time in their own processes; then the report. Killed and started again
with the same settings, it measures and records nothing twice and runs only what is missing."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from rlif.comparison.demos import demonstrations
from rlif.comparison.evaluation import expert_success
from rlif.comparison.report import write_report
from rlif.comparison.run import result_path, run_one, save_json_atomically
from rlif.comparison.scenes import eval_scenes
from rlif.comparison.settings import RunSpec, SweepConfig, all_runs
from rlif.comparison.world import SimWorld

log = logging.getLogger(__name__)
EXPERT_SEED = 20_000
"""The expert alone, measured with seeds EXPERT_SEED + seed (apart from the operators' draws)."""


def measure_experts(config: SweepConfig, world: SimWorld) -> dict[str, list[float]]:
    """Each level's expert alone on the evaluation scenes, once per seed (kept in experts.json)."""
    path = config.folder / "experts.json"
    measured: dict[str, list[float]] = json.loads(path.read_text()) if path.exists() else {}
    env = world.env()
    try:
        for level in config.levels:
            rates = measured.get(level, [])
            scenes = eval_scenes(config.expert_episodes)
            for seed in range(len(rates), config.seeds):
                rates.append(expert_success(env, level, EXPERT_SEED + seed, scenes))
            measured[level] = rates
            save_json_atomically(path, measured)
    finally:
        env.close()
    return measured


def prepare(config: SweepConfig) -> dict[str, list[float]]:
    """The experts' success rates, and every level's and seed's demonstrations on disk."""
    with SimWorld(config) as world:
        experts = measure_experts(config, world)
        for level in config.levels:
            for seed in range(config.seeds):
                demonstrations(config, world, level, seed)
    return experts


def _run_in_worker(config: SweepConfig, spec: RunSpec) -> dict[str, Any]:
    logging.basicConfig(level=logging.WARNING, format=f"[{spec.name}] %(levelname)s %(name)s: %(message)s")
    return run_one(config, spec)


def run_pending(config: SweepConfig) -> list[str]:
    """Runs what has no result yet; returns the names of the runs that failed."""
    pending = [spec for spec in all_runs(config) if not result_path(config, spec).exists()]
    print(f"{len(all_runs(config)) - len(pending)} runs done before, {len(pending)} to run", flush=True)
    failed: list[str] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=config.workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(_run_in_worker, config, spec): spec for spec in pending}
        for done, future in enumerate(as_completed(futures), start=1):
            spec = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # one run's failure must not cost the others
                failed.append(spec.name)
                print(f"[{done}/{len(pending)}] {spec.name} FAILED: {exc!r}", flush=True)
                continue
            print(
                f"[{done}/{len(pending)}] {spec.name}: {100 * result['final_success']:.0f} % alone "
                f"after {result['env_steps']} steps ({result['wall_s']:.0f} s)",
                flush=True,
            )
    return failed


def run_sweep(config: SweepConfig, command: str) -> int:
    started = time.monotonic()
    experts = prepare(config)
    print("experts alone: " + ", ".join(f"{level} {100 * sum(r) / len(r):.0f} %" for level, r in experts.items()))
    failed = run_pending(config)
    _log_sitting(config, time.monotonic() - started)
    paths = write_report(config, experts, command)
    for path in paths:
        print(f"report: {path}")
    if failed:
        print(f"{len(failed)} runs failed: {failed}; run the same command again to retry them")
    return 1 if failed else 0


def _log_sitting(config: SweepConfig, seconds: float) -> None:
    path = config.folder / "sittings.json"
    sittings = json.loads(path.read_text()) if path.exists() else []
    sittings.append({"ended": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(seconds, 1)})
    save_json_atomically(path, sittings)
