# nexus_nb: the README's commands. Every target sets up what is missing first.
#   make demo   JupyterLab on notebooks/ (127.0.0.1), prints the URL with its token
#   make voila  the dashboard notebook as an app in Voila (127.0.0.1:8866)
#   make test   lint (ruff, mypy, import-linter) + every test, real browser and redis included
#   make test-lowest  the non-browser tests, notebooks included, on the lowest admitted versions
#   make bench  the benchmarks, figures as ratios against baselines measured in the same run
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8888

.PHONY: setup system demo voila test test-lowest lint pytest bench serve clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
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

# The lab's settings dir turns off the news pop-up, as the browser tests do.
DEMO_SETTINGS := $(VENV)/demo-settings
demo: setup
	mkdir -p $(DEMO_SETTINGS)/@jupyterlab/apputils-extension
	echo '{"fetchNews": "false", "checkForUpdates": false}' \
	  > $(DEMO_SETTINGS)/@jupyterlab/apputils-extension/notification.jupyterlab-settings
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(PORT) --allow-root \
	  --ServerApp.root_dir=notebooks --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
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

# Its own venv (.venv-lowest) at uv's --resolution lowest-direct: ipykernel 6, oldest pins.
test-lowest: system
	.ci/lowest

bench: setup system
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .mypy_cache .ruff_cache .hypothesis
