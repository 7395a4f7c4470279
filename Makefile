# Slipway: `make run` opens the app, `make test` runs every test. Both build the
# environment first. The virtual environment lives outside the clone, keyed by
# the hash of the pinned requirements, so a fresh clone reuses it when nothing
# changed (and pip's cache makes a rebuild quick when something did).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
QUIET_PIP := { grep -v "is ignored" || true; }
VENV_ROOT ?= $(HOME)/.cache/slipway/venvs
REQ_HASH := $(shell $(PYTHON) requirements/env_hash.py)
VENV := $(VENV_ROOT)/$(REQ_HASH)
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.installed
# Test-only tools outside PyPI: a real S3-compatible server (npm) and, from Debian,
# OpenCV's headers (the C++ wrapper's build test), Xvfb with the xcb libraries Qt
# needs, load generators for the endpoint benchmark, and kotlinc with Android's
# org.json (the Kotlin wrapper's decoders are compiled and run against Python's).
NODE_DIR := $(HOME)/.cache/slipway/node
S3RVER := $(NODE_DIR)/node_modules/.bin/s3rver
DEBIAN_PACKAGES := libopencv-dev xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 wrk hey kotlin libandroid-json-java
export SLIPWAY_S3RVER := $(S3RVER)

.PHONY: help venv sysdeps run test test-quick test-slow test-zoo test-contract test-cluster lint bench samples clean-venvs installer installer-test screenshots

help:
	@echo "make run         install everything (first time) and open the app"
	@echo "make test        the whole suite: lint, type check, fast and slow tests"
	@echo "make test-quick  fast tests only (skips real exports), for iterating"
	@echo "make test-zoo    every zoo family x format through the CLI; writes the coverage table (hours)"
	@echo "make test-contract  every generated option case, each honoured one in a real export (about an hour)"
	@echo "make test-cluster  every Ray cluster test on a loopback cluster (make test runs a slice)"
	@echo "make lint        ruff + mypy"
	@echo "make bench       the benchmark scripts (ratios, printed)"
	@echo "make samples     retrain the bundled sample models (slow)"
	@echo "make screenshots render every view to docs/screenshots/"
	@echo "make sysdeps     the test-only tools outside PyPI (s3rver, OpenCV headers, Xvfb libs, wrk/hey)"
	@echo "make installer   build the one-folder desktop app (PyInstaller) into build/installer/dist"
	@echo "make installer-test  build it and run its headless self-test (long; not part of make test)"

$(STAMP):
	@echo "building the environment in $(VENV) (pinned; reused across clones)"
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -c requirements/constraints.txt pip setuptools wheel
	$(PIP) install -c requirements/constraints.txt -e '.[all,dev]' 2>&1 | $(QUIET_PIP)
	$(PY) -m pip check
	touch $(STAMP)

# The environment is shared by clones; point its editable install at this one
# (checked from outside the clone, where the current directory cannot stand in for it).
venv: $(STAMP)
	@(cd / && $(PY) -c "import core, pathlib, sys; sys.exit(pathlib.Path(core.__file__).resolve().parents[1] != pathlib.Path('$(CURDIR)').resolve())") 2>/dev/null \
		|| $(PIP) install --no-deps --no-build-isolation -e . 2>&1 | $(QUIET_PIP)
	@ln -sfn $(VENV) .venv

$(S3RVER):
	mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && npm install --no-audit --no-fund --silent s3rver@3.7.1

sysdeps: $(S3RVER)
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $$missing >/dev/null; \
		else echo "run: sudo apt-get install $$missing" >&2; exit 1; fi; \
	fi

run: venv
	$(PY) -m gui.launcher

# Every view rendered offscreen at 1280x800, at 1x and 2x pixel ratio (two real exports first).
screenshots: venv
	QT_QPA_PLATFORM=offscreen $(PY) -m gui.screenshots --out docs/screenshots

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

test: venv sysdeps lint
	$(PY) -m pytest -q --durations=15

test-quick: venv sysdeps
	$(PY) -m pytest -q -m "not slow"

test-slow: venv sysdeps
	$(PY) -m pytest -q -m slow

# The whole zoo (random-weight models of every family, every format): hours on 2 cores.
# Resumes from docs/zoo/coverage.json; ZOO_ARGS="--library timm --redo" narrows or reruns.
test-zoo: venv
	$(PY) -m tests.zoo.run $(ZOO_ARGS)

# Every Ray cluster test (make test runs a slice): cancel, a node killed mid-export, S3, a benchmark fanned out,
# and the app on the cluster (Settings test, an export with its node in the history, cancel).
test-cluster: venv
	SLIPWAY_CLUSTER_FULL=1 $(PY) -m pytest -q tests/core/test_cluster.py tests/gui/test_cluster_app.py

# The option contract, every case (make test runs the refusals and a slice of the exports).
test-contract: venv sysdeps
	SLIPWAY_CONTRACT_FULL=1 $(PY) -m pytest -q tests/contract

bench: venv
	$(PY) benchmarks/bench_export_overhead.py
	$(PY) benchmarks/bench_wrapper.py
	$(PY) benchmarks/bench_formats.py
	$(PY) benchmarks/bench_optimization.py
	$(PY) benchmarks/bench_gui.py
	$(PY) benchmarks/bench_endpoint.py
	$(PY) benchmarks/bench_cluster_overhead.py

samples: venv
	$(PY) resources/samples/shapes-yolo11n/train.py
	$(PY) resources/samples/digits-timm/train.py
	$(PY) resources/samples/digits-hf/train.py

installer: venv
	$(PY) build_installer.py

installer-test: venv
	SLIPWAY_INSTALLER_TEST=1 $(PY) -m pytest -q -s -m installer tests/test_installer.py

clean-venvs:
	rm -rf $(VENV_ROOT) .venv
