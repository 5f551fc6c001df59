"""Fixtures of the kind end-to-end tests, and the skip when there is no cluster to run them on.

The tests are collected everywhere. Where docker, kind, the cluster or the installed release
is missing, every test under tests/e2e is skipped with the reason and the command that sets
the stack up (`make e2e`). scripts/e2e.sh sets E2E_REQUIRED=1, which turns that skip into a
failure: a `make e2e` that tested nothing must not look green.

The modules run in file order and share one installed stack; the last one uninstalls it.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.stack import RedisSession
from tests.support.kube import (
    E2ESettings,
    Kubectl,
    environment_problem,
    load_kind_config,
    skip_message,
)

E2E_DIR = os.path.dirname(__file__)


def _settings() -> E2ESettings:
    return E2ESettings.from_env(os.environ, load_kind_config())


_problem: list[str | None] = []


def e2e_problem() -> str | None:
    """Checked once per session: each check shells out and may wait on a dead daemon."""
    if not _problem:
        _problem.append(environment_problem(_settings()))
    return _problem[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if str(item.path).startswith(E2E_DIR)]
    if not ours:
        return
    problem = e2e_problem()
    if problem is None:
        return
    if _settings().required:
        raise pytest.UsageError(f"E2E_REQUIRED is set but {problem}")
    marker = pytest.mark.skip(reason=skip_message(problem))
    for item in ours:
        item.add_marker(marker)


@pytest.fixture(scope="session")
def settings() -> E2ESettings:
    return _settings()


@pytest.fixture(scope="session")
def kubectl(settings: E2ESettings) -> Kubectl:
    return Kubectl(context=settings.context, namespace=settings.namespace, binary=settings.kubectl)


@pytest.fixture(scope="session")
def rqueue_name(kubectl: Kubectl) -> str:
    """The RedisQueue the chart created: the only one in the test namespace."""
    items = kubectl.items("redisqueues.queues.ai-agents.io")
    names = [item["metadata"]["name"] for item in items]
    assert len(names) == 1, f"expected the chart's one RedisQueue, found {names}"
    return str(names[0])


@pytest.fixture
def redis_session(kubectl: Kubectl, rqueue_name: str) -> RedisSession:
    """A factory of Redis sessions; tests that restart Redis open a fresh one afterwards."""
    return RedisSession(kubectl, rqueue_name)
