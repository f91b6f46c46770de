# Two entry points do all set-up on a fresh Debian machine:
#   make demo   - the main job on embedded defaults
#   make test   - create .venv, install everything, run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench chaos eval fixtures clean system-deps

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 venv missing: installing python3-venv (needs root)"; \
	  apt-get install -y -qq python3-venv >/dev/null && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@bash .ci/system-deps.sh test

demo: $(STAMP)
	@bash .ci/system-deps.sh demo
	$(BIN)/quaywatch demo

test: $(STAMP)
	@bash .ci/system-deps.sh test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# The long fault schedule of bench/chaos.py (about 22 minutes); the short one runs in the tests.
chaos: $(STAMP)
	@bash .ci/system-deps.sh test
	$(BIN)/python bench/chaos.py --long

eval: $(STAMP)
	$(BIN)/quaywatch eval recordings_fixtures/ --report eval-report.html

clean:
	rm -rf $(VENV) build *.egg-info
