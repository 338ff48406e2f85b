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

.PHONY: setup lab test test-main test-colab test-pythons browser preflight test-live server-stop clean-venv \
        hub hub-setup test-hub wheelhouse litellm litellm-setup test-litellm

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
# preinstalled versions, the setup cell as written, and every lesson (COLAB_LESSONS=00,04,07 for a few).
test: test-main test-colab

test-main: setup browser
	COURSE_MODE=local COURSE_STATE_DIR=$(CURDIR)/.course/test-state $(PY) -m pytest \
	  tests notebooks solutions --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider; \
	  status=$$?; COURSE_STATE_DIR=$(CURDIR)/.course/test-state $(PY) -m helpers server stop >/dev/null; exit $$status

test-colab: setup
	$(PY) tests/colab_profile.py

# The other Pythons (tests/python_matrix.py): unit and server tests and a sample of notebooks on 3.10, 3.12
# and 3.13, each in a venv of its own (.course/py3.X-venv, made from requirements/constraints-py3.X.txt and
# kept until pyproject.toml or that file changes). PYTHON_MATRIX=3.13 runs one. Not part of `make test`.
test-pythons: setup
	$(PY) tests/python_matrix.py

# Instructor kit: check keys, models and local mode before a workshop; then run the notebooks live.
preflight: setup
	$(PY) -m helpers preflight

test-live: setup
	COURSE_MODE=live $(PY) -m pytest notebooks solutions --nbval-lax --nbval-cell-timeout=600 -p no:cacheprovider -rs

server-stop:
	$(PY) -m helpers server stop

# A wheelhouse for the room's Wi-Fi (docs/instructor-guide.md, "Downloads for the room"): every wheel the course
# installs (the lab extra, pinned for this venv's Python; setuptools; the offline model) in .course/wheelhouse/,
# for this machine's platform. Prints its size and the commands that install from it with no network.
wheelhouse: $(PY)
	$(PY) tools/wheelhouse.py

# A workshop's hub on one machine (hub/, docs/instructor-guide.md "A hub on one machine"): JupyterHub with
# the room's course server as a service, in its own venv (.course/hub-venv: the course + hub/requirements.txt)
# and configurable-http-proxy from npm in .course/hub-node (never global). `make hub` serves
# http://127.0.0.1:8000 (HUB_PORT); its settings are environment variables (hub/jupyterhub_config.py).
HUB_VENV  := .course/hub-venv
HUB_NODE  := .course/hub-node
HUB_PROXY := $(HUB_NODE)/node_modules/.bin/configurable-http-proxy
HUB_PYVER  = $(shell $(PYTHON) -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")' 2>/dev/null)
HUB_CONSTRAINTS = $(wildcard requirements/constraints-py$(HUB_PYVER).txt)
HUB_STAMP := $(HUB_VENV)/.hub-installed

hub-setup: $(HUB_STAMP) $(HUB_PROXY)

$(HUB_STAMP): pyproject.toml hub/requirements.txt $(HUB_CONSTRAINTS)
	$(PYTHON) -m venv $(HUB_VENV)
	$(HUB_VENV)/bin/python -m pip install -q --upgrade pip
	$(HUB_VENV)/bin/python -m pip install -q $(if $(HUB_CONSTRAINTS),-c $(HUB_CONSTRAINTS)) -e ".[lab,test]" \
	  -r hub/requirements.txt
	$(HUB_VENV)/bin/python -m helpers install-model
	touch $@

$(HUB_PROXY): hub/package.json hub/package-lock.json
	mkdir -p $(HUB_NODE)
	cp hub/package.json hub/package-lock.json $(HUB_NODE)/
	npm ci --prefix $(HUB_NODE) --no-audit --no-fund
	touch $@

hub: hub-setup
	$(HUB_VENV)/bin/jupyterhub -f hub/jupyterhub_config.py

test-hub: hub-setup
	COURSE_MODE=local $(HUB_VENV)/bin/python -m pytest -q -rs tests/test_hub.py -p no:cacheprovider

# LiteLLM's proxy in front of the instructor's keys (hub/litellm/, docs/instructor-guide.md "Live keys for a room"), in
# its own venv (.course/litellm-venv: 1.108.7 is the newest whose proxy extra the package index can install; the
# venv is about 750 MB). `make litellm` serves http://127.0.0.1:4000; `make test-litellm` runs its tests against
# the course's local server (not part of `make test`).
LITELLM_VENV := .course/litellm-venv

$(LITELLM_VENV)/bin/litellm:
	$(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(LITELLM_VENV)/bin/python -m pip install -q 'litellm[proxy]==1.108.7'

litellm-setup: $(LITELLM_VENV)/bin/litellm

litellm: litellm-setup
	LITELLM_LOCAL_MODEL_COST_MAP=True $(LITELLM_VENV)/bin/litellm --config hub/litellm/config.yaml \
	  --host 127.0.0.1 --port 4000

test-litellm: litellm-setup setup
	COURSE_MODE=local LITELLM_VENV=$(CURDIR)/$(LITELLM_VENV) $(PY) -m pytest -q -rs tests/test_litellm_gateway.py \
	  -p no:cacheprovider

clean-venv:
	rm -rf $(VENV)
