# The two commands of the README: `make run` and `make test`, from a fresh clone with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean smoke
SMOKE_DIR ?= /tmp/smoke

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,deploy]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m ui

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Two pytest workers (pytest-xdist): most tests keep one core busy, so two halve the suite's time on
# two cores. worksteal hands each worker half the files in order and lets an idle one take from the
# other's tail, so a file (and its module fixtures) is split between workers only at the end.
TEST_WORKERS ?= 2

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# A real window under Xvfb (xcb platform, not offscreen), driven with xdotool: drag a layer, train one
# epoch, screenshots to $(SMOKE_DIR). Needs xvfb, xdotool, x11-apps, imagemagick (openbox optional).
smoke: $(STAMP)
	SMOKE_DIR=$(SMOKE_DIR) PY=$(PY) bash tests/smoke.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
