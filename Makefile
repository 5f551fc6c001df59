# One entry per job a person runs. Every target but `setup` goes through `setup`, which
# installs only what is missing, so a fresh clone needs nothing beforehand.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup tools run test unit lint bench e2e images clean lock

setup:
	@scripts/setup.sh

# helm 3 + helm 4 (and kubectl) for the chart tests and e2e; `make run` does not need them.
tools: setup
	@scripts/install-helm.sh

run: setup
	@scripts/run-local.sh

lint: setup
	$(VENV)/bin/ruff check exporter operator tests bench
	$(VENV)/bin/ruff format --check exporter operator tests bench
	$(VENV)/bin/mypy

test: lint tools
	$(VENV)/bin/pytest -p no:cacheprovider tests

unit: tools
	$(VENV)/bin/pytest -p no:cacheprovider tests/unit

bench: setup
	$(PY) bench/run.py

e2e: tools
	@scripts/e2e.sh

# Both images, tagged with the chart's appVersion (charts/redis-queue/Chart.yaml, else 0.1.0).
images: setup
	@scripts/e2e.sh images

clean:
	rm -rf $(VENV) .tools data .run

# Rewrites constraints.txt from the venv; the helm wheels are pinned by hand (pip download only).
lock: setup
	@{ sed -n '1,2p' constraints.txt; $(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e'; \
	   grep '^aws-cdk' constraints.txt; } > constraints.txt.new && mv constraints.txt.new constraints.txt
