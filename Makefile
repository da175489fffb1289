# Set-up, tests and the main job. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MUJOCO_GL ?= egl

.PHONY: install system test test-fast sim server lint bench reproduce clean

SYSTEM_PACKAGES := libegl1 libgl1-mesa-dri libusb-1.0-0
# Headless rendering (EGL) and librealsense's USB library.

install: system $(STAMP)

# Debian/Ubuntu packages the stack needs; installs what is missing (as root, or with sudo).
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$sudo apt-get update -q && $$sudo apt-get install -y -q $$missing; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[learner,spacemouse,franka,realsense,calibration,dev]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q

# The edit loop: everything but the tests marked slow (the learner/actor pair, learning runs).
test-fast: install
	$(BIN)/python -m pytest -q -x -m "not slow"

sim: install
	$(BIN)/rlif sim $(ARGS)

server: install
	$(BIN)/rlif server

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/hadolint docker/Dockerfile

bench: install
	$(BIN)/python benchmarks/robot_server.py
	$(BIN)/python benchmarks/teleop.py
	$(BIN)/python benchmarks/learner.py
	$(BIN)/python benchmarks/actor.py
	$(BIN)/python benchmarks/cameras.py
	$(BIN)/python benchmarks/franka_backend.py

# docs/results: RLIF vs HG-DAgger, DAgger, BC and RLPD on the full pick task (about 2 h on 2 cores;
# resumable: run it again after a kill). The state sweep first, then the image runs at the weakest expert.
reproduce: install
	$(BIN)/python benchmarks/rlif_vs_dagger.py --setting state
	$(BIN)/python benchmarks/rlif_vs_dagger.py --setting image --levels poor --methods rlif rlif_bc hg_dagger bc

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
