# The two commands of the quick start:
#   make lab    set everything up and open JupyterLab on the first notebook
#   make test   set everything up and run the whole test suite (what CI runs)
# Windows without make: see "Without make" in README.md.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Exact versions CI uses, for the Python version this venv has (none for other versions: the
# ranges in pyproject.toml then apply).
PYVER        = $(shell $(PY) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null)
CONSTRAINTS  = $(wildcard requirements/constraints-py$(PYVER).txt)
STAMP  := $(VENV)/.course-installed

.PHONY: setup lab test test-main test-colab browser preflight test-live server-stop clean-venv

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(PY) $(CONSTRAINTS)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[lab,test]"
	$(PY) -m helpers install-model
	touch $(STAMP)

lab: setup
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

# Debian's Chromium for the real-browser test (skipped, loudly, when it cannot be installed).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "WARNING: could not install chromium; the browser test will be skipped"; \
	  else echo "NOTE: chromium not found and apt-get not usable; the browser test will be skipped"; fi; }

# Everything runs in local mode with a private server state folder, so a learner's own server
# and keys are never touched. Then the Colab profile (tests/colab_profile.py): Python 3.13 with Colab's
# preinstalled versions, the setup cell as written, and a sample of lessons (COLAB_LESSONS=00,04,07).
test: test-main test-colab

test-main: setup browser
	COURSE_MODE=local COURSE_STATE_DIR=$(CURDIR)/.course/test-state $(PY) -m pytest \
	  tests notebooks solutions --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider; \
	  status=$$?; COURSE_STATE_DIR=$(CURDIR)/.course/test-state $(PY) -m helpers server stop >/dev/null; exit $$status

test-colab: setup
	$(PY) tests/colab_profile.py

# Instructor kit: check keys, models and local mode before a workshop; then run the notebooks live.
preflight: setup
	$(PY) -m helpers preflight

test-live: setup
	COURSE_MODE=live $(PY) -m pytest notebooks solutions --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider -rs

server-stop:
	$(PY) -m helpers server stop

clean-venv:
	rm -rf $(VENV)
