# Backprop Lab: `make run` serves the app, `make test` runs every check.
# Both create .venv when needed; installs are skipped when pyproject.toml is unchanged.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: run site test lint unit browser-deps redis-deps nginx-deps systemd-deps bench parity clean

# A venv whose pip is missing (half-made by a python3 without ensurepip) is made again;
# Debian's python3 needs its python3-venv package for that, installed here if missing.
define make_venv
	@if ! $(PY) -m pip --version >/dev/null 2>&1; then \
		rm -rf $(VENV); \
		if ! $(PYTHON) -m venv $(VENV) >/dev/null 2>&1; then \
			echo "installing Debian's python3-venv"; rm -rf $(VENV); \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				$(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
		fi; \
	fi
endef

$(STAMP): pyproject.toml
	$(make_venv)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

# An operator's install (docs/deploy.md): the app and what it runs on, without the
# test tools (Playwright, mypy, ruff); `make run` and `make test` add them
site:
	$(make_venv)
	$(PY) -m pip install -q --disable-pip-version-check -e .

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

# Debian's redis-server: tests/server/test_workers.py starts one on a free loopback port.
redis-deps:
	@if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then \
		echo "installing Debian's redis-server"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server; \
	fi

# Debian's nginx, for the reverse-proxy test (tests/server/test_nginx.py starts its own on a
# free port with a config of its own; the package's service is never needed).
nginx-deps:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
		echo "installing Debian's nginx"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx-light || \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx; \
	fi

# Debian's systemd, for systemd-analyze: tests/server/test_systemd.py reads the unit of
# docs/deploy.md with it (and runs the unit's command itself: no service manager needed).
systemd-deps:
	@if ! command -v systemd-analyze >/dev/null 2>&1; then \
		echo "installing Debian's systemd (for systemd-analyze)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq systemd; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check engine server tests bench
	$(PY) -m mypy

# Two test processes (pytest-xdist): most browser tests wait on a page, so two keep the
# suite well under ten minutes on a 2-core machine; each process has its own server and
# Chromium. TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= 2
test: $(STAMP) browser-deps redis-deps nginx-deps systemd-deps lint
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal

# The live engine-vs-PyTorch comparison: a CPU build of torch (2.13.0, as the golden
# file was made with), then tests/parity, which `make test` leaves out.
parity: $(STAMP)
	$(PY) -m pip install -q --disable-pip-version-check 'torch==2.13.0'
	$(PY) -m pytest -q -p no:cacheprovider --override-ini addopts=-ra tests/parity

bench: $(STAMP) browser-deps
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
