# Backprop Lab: `make run` serves the app, `make test` runs every check.
# Both create .venv when needed; installs are skipped when pyproject.toml is unchanged.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run test lint unit browser-deps bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	HOST=$(HOST) PORT=$(PORT) $(PY) -m server.serve

# Debian's Chromium and a CJK font (Japanese screenshots need it); never `playwright install`.
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
		echo "installing Debian's chromium"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi
	@if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
		echo "installing fonts-noto-cjk"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq fonts-noto-cjk; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check engine server tests bench
	$(PY) -m mypy

test: $(STAMP) browser-deps lint
	$(PY) -m pytest -q

bench: $(STAMP) browser-deps
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
