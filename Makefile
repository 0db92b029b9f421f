# Two commands on a fresh machine: `make demo` (the MNIST-1D study) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

# torch==2.13.0 first: a plain `torch` requirement would pull several GB of CUDA wheels.
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[torch,plots,bayes,dev]"
	touch $(STAMP)

demo: $(STAMP)
	SCITUNE=$(BIN)/scitune ./examples/mnist1d/demo.sh

test: $(STAMP)
	./scripts/system-deps.sh
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_analysis.py

clean:
	rm -rf $(VENV) .scitune
