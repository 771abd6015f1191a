# nexus_nb: the README's commands. Every target sets up what is missing first.
#   make demo   JupyterLab on copies of notebooks/ (127.0.0.1), prints the URL with its token;
#               its own venv (.venv-demo) with nexus_nb[notebooks] only
#   make voila  the dashboard notebook as an app in Voila (127.0.0.1:8866)
#   make test   lint (ruff, mypy, import-linter) + every test, real browser and redis included
#   make docs   the documentation site into site/ (mkdocs --strict: any warning fails)
#   make dist   a wheel and an sdist into dist/
#   make test-lowest  the non-browser tests, notebooks included, on the lowest admitted versions
#   make bench  the benchmarks, three whole runs: medians of ratios against baselines of the same run
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8888

.PHONY: setup system demo demo-setup voila test test-lowest lint pytest docs dist lock bench serve clean

# requirements/ci.txt is the tested set (pip freeze of this venv): installed as
# constraints, so `make test` runs exactly the versions CI ran. To move the set
# forward: `$(BIN)/python -m pip install -U -e '.[dev,docs]'`, run `make test`,
# then `make lock`.
LOCK := requirements/ci.txt

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dev,docs]'
	touch $@

setup: $(STAMP)

# System services the tests drive for real: Chromium (JupyterLab widget tests and
# browser interop), redis-server (scale-out tests), nginx (the reference's proxy setup).
system:
	@if command -v chromium >/dev/null && command -v redis-server >/dev/null \
	    && command -v nginx >/dev/null && command -v node >/dev/null \
	    && command -v npm >/dev/null; then :; else \
	  echo "installing system packages (chromium redis-server nginx-light nodejs npm)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium redis-server nginx-light $$(command -v node >/dev/null || echo nodejs) \
	    $$(command -v npm >/dev/null || echo npm) >/dev/null; \
	fi

lock:
	{ echo "# The tested set: pip freeze of make setup's venv (nexus_nb[dev,docs]), written by"; \
	  echo "# make lock after make test passed. make setup and make demo install it as constraints."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -viE '^(nexus[-_]nb|pip)=='; } > $(LOCK)

# The demo: its own venv with the package and the notebooks extra only (no dev
# toolchain), at the tested versions. JupyterLab serves COPIES of the notebooks
# (.demo/, git-ignored, made once), so its autosave never writes outputs into
# the tracked ones; delete .demo/ to start again from the committed notebooks.
# The lab's settings dir turns off the news pop-up, as the browser tests do.
DEMO_VENV := .venv-demo
DEMO_STAMP := $(DEMO_VENV)/.installed-stamp
DEMO_DIR := .demo
DEMO_SETTINGS := $(DEMO_VENV)/demo-settings

$(DEMO_STAMP): pyproject.toml $(LOCK)
	test -x $(DEMO_VENV)/bin/python || $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q -c $(LOCK) -e '.[notebooks]'
	mkdir -p $(DEMO_SETTINGS)/@jupyterlab/apputils-extension
	echo '{"fetchNews": "false", "checkForUpdates": false}' \
	  > $(DEMO_SETTINGS)/@jupyterlab/apputils-extension/notification.jupyterlab-settings
	touch $@

demo-setup: $(DEMO_STAMP)
	test -d $(DEMO_DIR) || { mkdir -p $(DEMO_DIR) && cp notebooks/*.ipynb $(DEMO_DIR)/; }

demo: demo-setup
	$(DEMO_VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) --allow-root \
	  --ServerApp.root_dir=$(DEMO_DIR) --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --LabApp.user_settings_dir=$(DEMO_SETTINGS)

voila: setup
	$(BIN)/voila notebooks/02-telemetry-dashboard.ipynb --no-browser --Voila.ip=127.0.0.1 --port=8866

serve: setup
	$(BIN)/nexus-nb serve --demo --port 8765

lint: setup
	$(BIN)/ruff check nexus_nb tests benchmarks docs
	$(BIN)/ruff format --check nexus_nb tests benchmarks docs
	$(BIN)/mypy
	$(BIN)/lint-imports

pytest: setup system
	$(BIN)/python -m pytest

test: lint pytest

# Offline; the five notebooks are executed as tutorials (NEXUS_DOCS_EXECUTE=false
# renders them unexecuted). NO_MKDOCS_2_WARNING quiets Material's banner about
# MkDocs 2, which is not a warning of this site.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

dist: setup
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# Its own venv (.venv-lowest) at uv's --resolution lowest-direct: ipykernel 6, oldest pins.
test-lowest: system
	.ci/lowest

bench: setup system
	$(BIN)/python benchmarks/run.py --runs 3

clean:
	rm -rf $(VENV) $(DEMO_VENV) .venv-lowest .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	  site dist
