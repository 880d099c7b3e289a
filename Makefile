# The verbs a user types. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE ?= demo/store
CORPUS ?= demo/stdlib.jsonl
PORT ?= 8501
MODEL ?=
MODEL_OPTION := $(if $(MODEL),--model $(MODEL))
STAMP := $(VENV)/.installed

.PHONY: install demo demo-store index ui test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## venv with torch (CPU build, pinned) first, then the project

demo: demo-store ## build the standard-library documentation store and open the UI
	$(BIN)/semsearch ui --store $(STORE) --port $(PORT)

demo-store: $(STAMP) ## only build the demo store (offline)
	$(BIN)/python -m indexer.demo_corpus $(CORPUS)
	$(BIN)/semsearch index $(CORPUS) --store $(STORE) $(MODEL_OPTION)

index: $(STAMP) ## index PATHS="..." into STORE
	$(BIN)/semsearch index $(PATHS) --store $(STORE) $(MODEL_OPTION)

ui: $(STAMP) ## open the UI on STORE
	$(BIN)/semsearch ui --store $(STORE) --port $(PORT)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) demo
