"""The split the e2e run makes: KEDA (build.LATE) is built beside the first phase, and the
second phase waits for it through files in the run directory. The waits are checked with
real processes (one alive, one gone), not stand-ins."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.localcluster import addons
from tests.localcluster.build import (
    LATE,
    OPTIONAL,
    POD_BINARIES,
    cluster_components,
    load_components,
)
from tests.localcluster.cluster import wait_for_late
from tests.localcluster.layout import LATE_DONE, LATE_FAILED, LATE_PID

CLUSTER = Path(__file__).resolve().parents[2] / "tests" / "localcluster" / "cluster.py"


def test_late_and_early_components_are_every_cluster_component_once() -> None:
    early = [c.name for c in cluster_components(late=False)]
    late = [c.name for c in cluster_components(late=True)]
    assert sorted(late) == sorted(LATE)
    assert not set(early) & set(late)
    every = [c.name for c in load_components() if c.name not in OPTIONAL]
    assert sorted(early + late) == sorted(every)


def test_late_binaries_run_as_pods_of_keda_only_never_on_the_node() -> None:
    late = {b for c in cluster_components(late=True) for b in c.binaries}
    # Each gets an image (build.tool_images), and each is an image the KEDA addon swaps in.
    assert late <= set(POD_BINARIES)
    assert late <= set(addons.KEDA_IMAGES.values())
    # up() starts the node from the early binaries alone.
    source = CLUSTER.read_text(encoding="utf-8")
    assert not [b for b in late if f'b["{b}"]' in source]


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_waiting_ends_when_the_build_is_done(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LATE_PID).write_text(str(sleeper.pid))
        writer = threading.Timer(0.5, (tmp_path / LATE_DONE).touch)
        writer.start()
        wait_for_late(tmp_path, timeout=20)
        assert (tmp_path / LATE_DONE).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failed_build_is_reported_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / LATE_PID).write_text(str(_gone_pid()))
    (tmp_path / LATE_FAILED).write_text("CommandFailed: go build keda exited 1")
    with pytest.raises(RuntimeError, match="keda failed: CommandFailed: go build keda exited 1"):
        wait_for_late(tmp_path, timeout=20)


def test_a_build_that_is_gone_without_a_word_is_not_waited_for(tmp_path: Path) -> None:
    (tmp_path / LATE_PID).write_text(str(_gone_pid()))
    with pytest.raises(RuntimeError, match="exited unfinished"):
        wait_for_late(tmp_path, timeout=20)


def test_a_build_still_running_at_the_deadline_times_out(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / LATE_PID).write_text(str(sleeper.pid))
        with pytest.raises(TimeoutError, match="keda took over"):
            wait_for_late(tmp_path, timeout=0.2)
    finally:
        sleeper.kill()
        sleeper.wait()
