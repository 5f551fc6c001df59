"""The ``queue-operator`` command line: the namespace scope must be explicit."""

from __future__ import annotations

import pytest

from queue_operator.cli import parse_args
from queue_operator.config import OperatorConfig


def test_cluster_wide_with_liveness() -> None:
    args = parse_args(["-A", "--liveness", "http://0.0.0.0:8080/healthz"])
    assert args.all_namespaces is True
    assert args.namespaces is None
    assert args.liveness == "http://0.0.0.0:8080/healthz"


def test_namespaces_repeat() -> None:
    args = parse_args(["-n", "a", "--namespace", "b", "--log-format", "json"])
    assert args.namespaces == ["a", "b"]
    assert args.log_format == "json"


@pytest.mark.parametrize("argv", [[], ["-A", "-n", "a"]])
def test_scope_is_required_and_exclusive(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_timers_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_OPERATOR_RECONCILE_INTERVAL", "5")
    monkeypatch.setenv("QUEUE_OPERATOR_REDIS_HOST", "127.0.0.1")
    config = OperatorConfig()
    assert config.reconcile_interval == 5.0
    assert config.status_interval == 30.0
    assert config.redis_host == "127.0.0.1"
