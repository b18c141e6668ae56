# gatepass — everything a fresh machine needs is installed by these targets.
#   make demo   community server + simulated gates running the real firmware; on a
#               terminal it keeps serving until Ctrl-C, piped (not a terminal) it says it
#               is not serving and stops: make demo DEMO_ARGS=--serve keeps it serving,
#               DEMO_ARGS=--no-serve stops at once
#   make test   the whole test suite (installs venv, pip and npm packages itself)
#   make bench  device benchmark on the MicroPython runtime (last line: JSON)
#   make firmware BOARD=ESP32_GENERIC   the frozen image for boards without PSRAM (needs
#               git and ESP-IDF, or docker for its container; not part of `make test`)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STUBS_VERSION := 1.27.0.post1
VENV_STAMP := $(VENV)/.gatepass-installed
MPY_STAMP  := tests/mpy/node_modules/.gatepass-installed
LOCALE_PO  := $(wildcard host_tools/gatepass/server/locale/*/LC_MESSAGES/*.po)
LOCALE_MO  := $(LOCALE_PO:.po=.mo)
PYTEST_ARGS ?=

.PHONY: all venv mpy-runtime messages sysdeps test demo bench bench-server firmware lock clean

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

# staff pages' message catalogs (.po -> .mo with Babel from the lock; no gettext needed)
messages: $(LOCALE_MO)

$(LOCALE_MO): %.mo: %.po $(VENV_STAMP)
	$(PY) -m gatepass.server.i18n compile

mpy-runtime: $(MPY_STAMP)

$(MPY_STAMP): tests/mpy/package.json tests/mpy/package-lock.json
	@command -v node >/dev/null || { echo "node is required (apt-get install nodejs npm)"; exit 1; }
	cd tests/mpy && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# PostgreSQL (server tests, bench-server), Chromium (staff pages in a real browser), the CJK
# fonts (WenQuanYi Micro Hei for cards and the Chinese staff pages in the browser, GNU Unifont for the gate's glyph file) and poppler
# (pdftoppm: the card test rasterises the PDF) come from Debian; installed only when missing.
SYSDEPS_APT := postgresql chromium fonts-wqy-microhei unifont poppler-utils
sysdeps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v chromium >/dev/null \
	    || ! command -v pdftoppm >/dev/null || [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] \
	    || [ ! -f /usr/share/unifont/unifont.hex ]; then \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing $(SYSDEPS_APT) (Debian packages)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSDEPS_APT) >/dev/null; \
	fi

test: venv mpy-runtime sysdeps messages
	$(PY) -m pytest -n 2 -q -p no:randomly $(PYTEST_ARGS)

demo: venv mpy-runtime sysdeps messages
	$(PY) -m gatepass.demo $(DEMO_ARGS)

bench: venv mpy-runtime
	$(PY) tests/bench/run.py

bench-server: venv sysdeps
	$(PY) tests/bench/bench_server.py

# The frozen image (docs/hardware.md): MicroPython's ESP32 port built with firmware/manifest.py
# (app/ and drivers/ frozen into flash). With ESP-IDF installed and exported (IDF_PATH set)
# it builds here; otherwise inside Espressif's container (docker). Result:
# dist/gatepass-$(BOARD)-$(MPY_VERSION).bin, for `gatepass flash --firmware`.
BOARD       ?= ESP32_GENERIC
MPY_VERSION ?= v1.27.0
IDF_VERSION ?= v5.4.2
MPY_SRC     ?= build/micropython-$(MPY_VERSION)
FW_MANIFEST := $(CURDIR)/firmware/manifest.py

firmware:
	@command -v git >/dev/null || { echo "git is required"; exit 1; }
	@test -d $(MPY_SRC) || git clone --depth 1 --branch $(MPY_VERSION) https://github.com/micropython/micropython.git $(MPY_SRC)
	@mkdir -p dist
	@if [ -n "$$IDF_PATH" ]; then \
	  $(MAKE) -C $(MPY_SRC)/mpy-cross && \
	  $(MAKE) -C $(MPY_SRC)/ports/esp32 BOARD=$(BOARD) submodules && \
	  $(MAKE) -C $(MPY_SRC)/ports/esp32 BOARD=$(BOARD) FROZEN_MANIFEST=$(FW_MANIFEST); \
	else \
	  command -v docker >/dev/null || { echo "neither ESP-IDF (IDF_PATH) nor docker found: see docs/hardware.md"; exit 1; }; \
	  docker run --rm -u $$(id -u):$$(id -g) -e HOME=/tmp -v $(CURDIR):/gatepass -w /gatepass/$(MPY_SRC) \
	    espressif/idf:$(IDF_VERSION) bash -c "make -C mpy-cross && make -C ports/esp32 BOARD=$(BOARD) submodules && \
	    make -C ports/esp32 BOARD=$(BOARD) FROZEN_MANIFEST=/gatepass/firmware/manifest.py"; \
	fi
	cp $(MPY_SRC)/ports/esp32/build-$(BOARD)/firmware.bin dist/gatepass-$(BOARD)-$(MPY_VERSION).bin
	@echo "image: dist/gatepass-$(BOARD)-$(MPY_VERSION).bin  (gatepass flash --port PORT --firmware it)"

# Re-pin the dependencies (needs the registry): edit pyproject.toml first.
lock:
	rm -rf /tmp/gatepass-lock && $(PYTHON) -m venv /tmp/gatepass-lock
	/tmp/gatepass-lock/bin/pip install --quiet -e 'host_tools[dev]'
	/tmp/gatepass-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > host_tools/requirements.lock

clean:
	rm -rf $(VENV) tests/mpy/node_modules .pytest_cache
