"""The local cluster's progress lines: one clock across the processes of a run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.progress import START_ENV


def said_at(env: dict[str, str]) -> float:
    """The seconds a fresh process' first progress line shows."""
    done = subprocess.run(
        [sys.executable, "-c", "from tests.localcluster.progress import say; say('x')"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.fullmatch(r"\[cluster +([0-9.]+)s\] x\n", done.stderr)
    assert match, done.stderr
    return float(match.group(1))


def test_a_child_process_counts_from_its_parents_start() -> None:
    env = {k: v for k, v in os.environ.items() if k != START_ENV}
    assert said_at(env) < 100  # a process of its own counts from its own start
    env[START_ENV] = repr(time.monotonic() - 1000)  # what a parent 1000 s into its run passes
    assert 1000 <= said_at(env) < 1100


def test_the_start_is_passed_on_to_the_processes_a_run_starts() -> None:
    assert float(os.environ[START_ENV]) <= time.monotonic()  # set when progress was imported
