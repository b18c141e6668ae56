# gatepass — everything a fresh machine needs is installed by these targets.
#   make demo   community server + simulated gates running the real firmware; on a
#               terminal it keeps serving until Ctrl-C, piped (not a terminal) it says it
#               is not serving and stops: make demo DEMO_ARGS=--serve keeps it serving,
#               DEMO_ARGS=--no-serve stops at once
#   make test   the whole test suite (installs venv, pip and npm packages itself)
#   make bench  device benchmark on the MicroPython runtime (last line: JSON)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STUBS_VERSION := 1.27.0.post1
VENV_STAMP := $(VENV)/.gatepass-installed
MPY_STAMP  := tests/mpy/node_modules/.gatepass-installed
PYTEST_ARGS ?=

.PHONY: all venv mpy-runtime sysdeps test demo bench bench-server lock clean

all: test

venv: $(VENV_STAMP)

$(VENV_STAMP): host_tools/pyproject.toml host_tools/requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "python3 is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r host_tools/requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e host_tools
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade --target $(VENV)/mpstubs \
		micropython-esp32-stubs==$(STUBS_VERSION)
	touch $@

mpy-runtime: $(MPY_STAMP)

$(MPY_STAMP): tests/mpy/package.json tests/mpy/package-lock.json
	@command -v node >/dev/null || { echo "node is required (apt-get install nodejs npm)"; exit 1; }
	cd tests/mpy && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# PostgreSQL (server tests, bench-server) and Chromium (staff pages in a real browser)
# come from Debian's packages; installed only when missing.
sysdeps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v chromium >/dev/null; then \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing postgresql and chromium (Debian packages)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql chromium >/dev/null; \
	fi

test: venv mpy-runtime sysdeps
	$(PY) -m pytest -n 2 -q -p no:randomly $(PYTEST_ARGS)

demo: venv mpy-runtime
	$(PY) -m gatepass.demo $(DEMO_ARGS)

bench: venv mpy-runtime
	$(PY) tests/bench/run.py

bench-server: venv sysdeps
	$(PY) tests/bench/bench_server.py

# Re-pin the dependencies (needs the registry): edit pyproject.toml first.
lock:
	rm -rf /tmp/gatepass-lock && $(PYTHON) -m venv /tmp/gatepass-lock
	/tmp/gatepass-lock/bin/pip install --quiet -e 'host_tools[dev]'
	/tmp/gatepass-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > host_tools/requirements.lock

clean:
	rm -rf $(VENV) tests/mpy/node_modules .pytest_cache
