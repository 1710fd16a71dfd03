# The two commands of the README:  `make demo`  and  `make test`.
# Both do the whole set-up first (idempotent; seconds the second time).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# Debian programs the project runs: ffmpeg (openai-whisper, video), espeak-ng + sox (samples, tests),
# chromium + chromedriver (the browser tests).
DEBIAN_PROGRAMS := ffmpeg espeak-ng sox chromium chromedriver
DEBIAN_PACKAGES := ffmpeg espeak-ng sox libsox-fmt-mp3 chromium chromium-driver
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)
# -qq: errors only. This workplace's pip configuration names package indexes that do not exist here, and pip warns
# about each of them for every package; a clean install should print nothing.
PIP := $(PY) -m pip install --quiet --quiet --disable-pip-version-check

.PHONY: setup system-deps models demo test check lock bench clean

setup: system-deps $(DEPS_STAMP) models

system-deps:
	@missing=""; for p in $(DEBIAN_PROGRAMS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES) >/dev/null; \
	  else \
	    echo "missing programs:$$missing -- run as root: apt-get install -y $(DEBIAN_PACKAGES)"; exit 1; \
	  fi; \
	fi

# requirements.lock pins the whole environment (every transitive package), so a fresh machine gets exactly what the
# README's figures were measured with; pyproject.toml keeps the short list of what the project itself asks for.
$(DEPS_STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# The CPU wheel on disk; a bare `torch` (even as another package's dependency) would pull a CUDA build.
	$(PIP) torch==2.13.0
	$(PIP) -r requirements.lock
	$(PIP) --no-deps -e .
	rm -f $(VENV)/.deps-*
	touch $@

# After a change to pyproject.toml's dependencies: resolve them afresh and write the lock.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e '.[dev]'
	$(PY) -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^torch==' > requirements.lock

models: $(DEPS_STAMP)
	$(VENV)/bin/empathic setup

demo: setup
	$(VENV)/bin/empathic demo

# The guardrails: style, types, and the import layers (pyproject.toml holds their configuration).
check: setup
	$(VENV)/bin/ruff check --quiet .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: setup
	# Two processes, each test file kept in one of them (its module fixtures load the models once): the suite waits
	# on browsers, servers and real-time audio as much as it computes, so even 2 cores finish it in about 60% of the
	# time. --durations names the slowest tests in every run: where the suite's time goes.
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=20

bench: setup
	$(VENV)/bin/empathic bench --out bench.json

clean:
	rm -rf $(VENV) .pytest_cache
