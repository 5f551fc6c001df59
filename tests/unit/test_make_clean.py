"""``make clean`` and ``make clean-data`` run for real, in a copy of the Makefile's directory
with a fake venv, tool cache and ``data/`` (the queue's AOF that ``make run`` writes)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import RedisServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The Makefile and its scripts, plus what `make setup`, `make tools` and `make run` leave."""
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copy(ROOT / "Makefile", work)
    shutil.copytree(ROOT / "scripts", work / "scripts")
    for path in (
        ".venv/bin/python",
        ".tools/bin/helm",
        ".run/helm-home/config",
        "data/redis/appendonlydir/appendonly.aof.1.incr.aof",
        "data/prometheus/tsdb/wal",
        "data/logs/redis.log",
    ):
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text("x")
    return work


def make(work: Path, target: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", target],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_clean_keeps_the_queue_data_and_the_venv_and_says_so(checkout: Path) -> None:
    done = make(checkout, "clean")
    assert done.returncode == 0, done.stderr
    assert not (checkout / ".run").exists()
    assert not (checkout / ".tools").exists()
    assert (checkout / "data/redis/appendonlydir/appendonly.aof.1.incr.aof").read_text() == "x"
    assert (checkout / ".venv/bin/python").exists()
    assert "kept data/" in done.stdout
    assert "make clean-data" in done.stdout
    assert "kept .venv" in done.stdout


def test_clean_data_refuses_while_make_runs_redis_then_deletes_and_says_what(
    checkout: Path,
) -> None:
    redis = RedisServer(data_dir=checkout / "data" / "redis").start()  # as run-local.sh does
    try:
        refused = make(checkout, "clean-data")
        assert refused.returncode != 0
        assert (checkout / "data/redis/appendonlydir").is_dir()
        assert f"pid {redis.process.pid if redis.process else '?'} (redis-server)" in (
            refused.stderr
        )
        assert "make run" in refused.stderr
    finally:
        redis.stop()
    done = make(checkout, "clean-data")
    assert done.returncode == 0, done.stderr
    assert not (checkout / "data").exists()
    assert "deleting data/" in done.stdout
    assert "queue AOF" in done.stdout
    assert (checkout / ".venv/bin/python").exists()
    again = make(checkout, "clean-data")
    assert again.returncode == 0, again.stderr
    assert "no data/" in again.stdout
