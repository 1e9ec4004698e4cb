# siyu — the two commands: `make run` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/siyu/console/static/vendor

.PHONY: run test lint services browser assets install install-dev clean bench

run: install assets .env  ## set up, migrate, create the owner, serve API + console + worker + sandbox
	@# In the terminal's foreground group of its own: Ctrl-C stops siyu, and make exits 0 (see the script)
	@$(BIN)/python scripts/foreground.py bash scripts/run.sh

test: install-dev assets services browser lint  ## everything CI runs
	$(BIN)/pytest -n 2 --dist loadgroup -p no:cacheprovider

lint: install-dev
	$(BIN)/ruff check src tests bench samples
	$(BIN)/ruff format --check src tests bench samples
	$(BIN)/mypy
	$(BIN)/lint-imports

services:  ## PostgreSQL and Redis must answer; start them if they are down
	@bash scripts/ensure-services.sh

browser:  ## Debian's Chromium and a CJK font for the browser tests, installed when missing
	@bash scripts/ensure-browser.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

install-dev: $(VENV)/.installed-dev
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

assets: $(VENDOR)/.installed
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	touch $@

.env: | install  ## fresh secrets for this machine, once
	{ echo "SIYU_ENV=development"; echo "SIYU_SANDBOX=true"; $(BIN)/siyu keys generate; } > $@
	@echo "wrote .env with fresh secrets"

bench: install-dev services
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .mypy_cache .ruff_cache
