"""The house's rules on imports: packages depend one way (DESIGN section 3), no module imports
itself back through others, and the processes that run beside a robot or on a learner host
never load a simulation or a hardware library they do not use."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("wire", "robot_server", "teleop", "learner", "actor", "calibration", "rlif")
ALLOWED: dict[str, set[str]] = {
    "wire": set(),
    "robot_server": {"wire"},
    "teleop": {"wire"},
    "learner": {"wire"},
    "actor": {"wire", "robot_server", "teleop", "learner"},
    "calibration": {"wire", "robot_server", "teleop"},
    "rlif": {"wire", "robot_server", "teleop", "learner", "actor", "calibration"},
}
"""What each package may import besides itself; nothing imports rlif (the command, the top)."""


def module_names() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports (at any depth of its code, type-only included)."""
    modules = module_names()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                target = resolve(name)
                if target is not None and target != module:
                    targets.add(target)
        graph[module] = targets
    return graph


def test_packages_depend_one_way() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        for target in targets
        if (top := target.split(".")[0]) != module.split(".")[0] and top not in ALLOWED[module.split(".")[0]]
    )
    assert not wrong, wrong


def test_no_import_cycles() -> None:
    graph = import_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, cycles


HEAVY = ("mujoco", "franky", "franky_sim", "pyrealsense2", "cv2", "pinocchio")

ENTRY_POINTS = {
    "rlif learner": ["rlif.cli", "rlif.pair_cli", "learner.service"],
    "rlif actor": ["rlif.cli", "rlif.pair_cli", "actor.process"],
    "rlif eval": ["rlif.cli", "rlif.pair_cli", "actor.evaluate"],
    "rlif teleop": ["rlif.cli", "rlif.teleop_cli", "teleop.stream", "teleop.keyboard"],
    "rlif train": ["rlif.cli", "rlif.learner_cli", "learner.learner"],
}


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_learner_actor_and_teleop_load_no_simulation_or_hardware_library(command: str) -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {ENTRY_POINTS[command]!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{command} loads {result.stdout.strip()}"
