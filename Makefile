# Set-up and everyday commands. Each target creates the virtual environment it needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast install clean-venv

$(STAMP): setup.py setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[eval,dev,tfds]"
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

# The main job: compress + decompress the bundled sample image with the default zoo model.
demo: $(STAMP)
	$(BIN)/tfc-swin demo

# The whole test suite (about 14 minutes on 2 cores, CI allows 15): two pytest-xdist workers. Each test file
# runs on one worker (module fixtures such as loaded SavedModels are built once), files that
# load the same models share one, and the tests of files without shared fixtures are spread
# one by one (tests/conftest.py). The 20 slowest tests are listed at the end.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=20 tests

# The tests not marked slow (setup.cfg): about a minute.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" tests

clean-venv:
	rm -rf $(VENV)
