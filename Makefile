# The verbs a user types. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The store of `make index`, `make ui` and `make serve`: $SEMSEARCH_STORE, else ./semsearch-store (as
# the CLI and the UI); `make demo` and `make demo-store` use DEMO_STORE.
STORE ?= $(or $(SEMSEARCH_STORE),semsearch-store)
DEMO_STORE ?= demo/store
CORPUS ?= demo/stdlib.jsonl
PORT ?= 8501
SERVE_PORT ?=
MODEL ?=
MODEL_OPTION := $(if $(MODEL),--model $(MODEL))
# A model folder (one `semsearch distill` wrote, say) that `make ui` shows beside the store's model.
COMPARE_MODEL ?=
STAMP := $(VENV)/.installed

.PHONY: install chromium java demo demo-store index ui serve test lint bench screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP) ## venv with torch (CPU build, pinned) first, then the project

demo: demo-store ## build the standard-library documentation store and open the UI
	$(BIN)/semsearch ui --store $(DEMO_STORE) --port $(PORT)

demo-store: $(STAMP) ## only build the demo store (offline)
	$(BIN)/python -m indexer.demo_corpus $(CORPUS)
	$(BIN)/semsearch index $(CORPUS) --store $(DEMO_STORE) $(MODEL_OPTION)

index: $(STAMP) ## index PATHS="..." into STORE
	$(BIN)/semsearch index $(PATHS) --store $(STORE) $(MODEL_OPTION)

ui: $(STAMP) ## open the UI on STORE (COMPARE_MODEL=FOLDER: a second model beside the store's)
	$(BIN)/semsearch ui --store $(STORE) --port $(PORT) $(if $(COMPARE_MODEL),--compare-model $(COMPARE_MODEL))

serve: $(STAMP) ## the HTTP API on STORE (port: SERVE_PORT, else the settings' 8700)
	$(BIN)/semsearch serve --store $(STORE) $(if $(SERVE_PORT),--port $(SERVE_PORT))

chromium: ## Debian's Chromium for the browser test (skipped with a message when absent)
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		{ [ -z "$$CI" ] && echo "chromium is not installed here: the browser test will be skipped"; }

java: ## Debian's Java 17 for the Spark tests (skipped with a message when absent)
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		openjdk-17-jre-headless >/dev/null; } || \
		{ [ -z "$$CI" ] && echo "Java is not installed here: the Spark tests will be skipped"; }

test: $(STAMP) chromium java
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

screenshots: $(STAMP) chromium ## the screenshots of README.md and docs/ from DEMO_STORE (build it with make demo-store)
	$(BIN)/python -m tests.test_browser $(DEMO_STORE) docs "how do I parse command line arguments"

clean:
	rm -rf $(VENV) demo
