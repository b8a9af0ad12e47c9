# One command each; `make run` and `make test` set up .venv on first use.
PY := .venv/bin/python
STAMP := .venv/.installed

.PHONY: setup serve replay run demo test test-unit lint bench bench-quick

$(STAMP): pyproject.toml package.json package-lock.json
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@# the console's map library, from the npm registry (served from node_modules)
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the console will run without its map (apt-get install npm)"; fi
	touch $(STAMP)

setup: $(STAMP)

serve: $(STAMP)
	.venv/bin/emon serve

run: serve

demo: $(STAMP)
	.venv/bin/emon demo --duration 60

replay: $(STAMP)
	.venv/bin/emon replay --orders examples/orders.json --stream examples/stream.jsonl \
		--alerts alerts.jsonl --until 2026-11-28T13:00:00Z
	@echo "alerts written to alerts.jsonl:"
	@cat alerts.jsonl

lint: $(STAMP)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy emon simulators benchmarks devices

test: lint
	$(PY) -m pytest

# the pure, fast unit tests only (no broker, database, browser or subprocess)
test-unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

bench: $(STAMP)
	$(PY) -m benchmarks.suite --out benchmarks/results

bench-quick: $(STAMP)
	$(PY) -m benchmarks.suite --quick --out benchmarks/results-quick
