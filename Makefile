# Two entry points matter (see README): `make demo` and `make test`.
# Both create ./.venv on first use and reinstall only when a pyproject changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYPROJECTS := $(wildcard packages/*/pyproject.toml)
# LiteLLM otherwise downloads its price map at import time.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): $(PYPROJECTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(foreach p,$(patsubst %/pyproject.toml,%,$(PYPROJECTS)),-e "$(p)[test]")
	touch $(STAMP)

# The main job: every example end to end, then an MCP round trip.
demo: setup
	$(PY) examples/run_all.py

# Every test of both distributions.
test: setup
	$(PY) -m pytest packages/stratum/tests
	@if [ -d packages/stratum-mcp/tests ]; then $(PY) -m pytest packages/stratum-mcp/tests; fi

bench: setup
	$(PY) benchmarks/run_all.py

# Static checks: ruff everywhere, mypy (strict) on both packages' sources.
lint: setup
	$(PY) -m pip install --quiet -e "packages/stratum-mcp[test,dev]"
	$(PY) -m ruff check packages examples benchmarks
	cd packages/stratum && ../../$(PY) -m mypy
	cd packages/stratum-mcp && ../../$(PY) -m mypy

clean:
	rm -rf $(VENV)
