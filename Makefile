# Two entry points matter (see README): `make demo` and `make test`.
# Both install exactly what uv.lock pins into ./.venv (created on first use;
# re-synced only when the lock or a pyproject changes). `make lock` is the one
# target that resolves anew, on purpose.
#
# Another interpreter: `make test PYTHON=python3.13` uses ./.venv-3.13.
PYTHON ?= python3
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYVER),)
$(error $(PYTHON) does not run; pass PYTHON=/path/to/python3.11-or-newer)
endif
ifeq ($(origin PYTHON),command line)
VENV   ?= .venv-$(PYVER)
else
VENV   ?= .venv
endif
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.synced
# uv itself is pinned by hash and bootstrapped with pip into ./.tools.
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
LOCKED_INPUTS := uv.lock pyproject.toml $(wildcard packages/*/pyproject.toml)

export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))
# Interpreters come from the machine; uv must not try to download one.
export UV_PYTHON_DOWNLOADS := never
# Compile bytecode at install, as pip does: a first import is then what a user sees.
export UV_COMPILE_BYTECODE := 1
# LiteLLM otherwise downloads its price map at import time.
export LITELLM_LOCAL_MODEL_COST_MAP := True
# Write bytecode caches even where the environment asks not to: the suites start
# hundreds of interpreters (workers, servers, crashed processes), and each would
# otherwise compile the workspace's sources and rewrite the test modules again.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: setup demo test test-latest services bench lint lock clean

setup: $(STAMP)

$(UV): tools/uv-requirements.txt
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: -r tools/uv-requirements.txt
	touch $(UV)

$(STAMP): $(LOCKED_INPUTS) | $(UV)
	$(UV) sync --locked --quiet --python $(PYTHON)
	touch $(STAMP)

# The main job: every example end to end, then an MCP round trip.
demo: setup
	$(PY) examples/run_all.py

# Every test of both distributions. Services the tests start themselves
# (redis-server, PostgreSQL) are installed first when missing and this user can.
# Each suite is spread over every core (pytest-xdist; TEST_JOBS=1 for one
# process per suite). The few tests that assert a timing bound the spec promises are
# marked `serial` and run after the parallel part, at normal priority, while
# the stratum-mcp suite runs beside them at the lowest priority (nice 19), on
# the CPU they leave idle (tools/serial-beside). Only the modules that mark a
# serial test are collected again for that.
TEST_JOBS ?= auto
SERIAL_MODULES = $(shell grep -rlE --include='test_*.py' 'mark\.serial' packages/stratum/tests | sort)
test: setup services
	$(PY) -m pytest -n $(TEST_JOBS) --dist worksteal -m "not serial" packages/stratum/tests
	tools/serial-beside $(PY) $(TEST_JOBS) $(or $(SERIAL_MODULES),packages/stratum/tests)

services:
	@tools/ensure-test-services

# The library's own dependency ranges, at their newest: what `pip install`
# gives a user today. Not part of CI (an upstream release must not block a
# landing); run it to see upstream breakage before users do.
test-latest: | $(UV)
	tools/test-latest $(PYTHON)

bench: setup
	$(PY) benchmarks/run_all.py

# Static checks: ruff everywhere, mypy (strict) on both packages' sources.
lint: setup
	$(PY) -m ruff check packages examples benchmarks tools
	cd packages/stratum && ../../$(PY) -m mypy
	cd packages/stratum-mcp && ../../$(PY) -m mypy

# Resolve every dependency anew (newest allowed versions) and rewrite uv.lock.
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

clean:
	rm -rf .venv .venv-* $(TOOLS)
