# Every target bootstraps what it needs, so each works on a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-nojit lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Run the shipped quickstart scenario (the README's first command).
demo: $(STAMP)
	$(BIN)/contagion run scenarios/quickstart.yaml

## The test suite (the README's second command; CI runs it).
test: $(STAMP)
	$(BIN)/python -m pytest -q

## The suite once more with the JIT off: numba code runs as Python, for coverage and debugging.
test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run --output BENCHMARKS.md
	$(BIN)/python -m benchmarks.whole_process --append BENCHMARKS.md

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
