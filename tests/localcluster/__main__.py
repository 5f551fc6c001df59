"""``python -m tests.localcluster COMMAND``: the local cluster's commands.

check          say whether the cluster can run here (exit 0) or what is missing (exit 3)
build          build (or reuse) binaries, root filesystems and images; start nothing
               (it and prebuild end by removing what no run used for 14 days: prune.py)
prebuild       build (or reuse) the binaries and root filesystems only, where the cluster
               can run (else say why and exit 0): what `make test` runs beside the non-e2e
               tests, so a machine's first run compiles meanwhile; all but KEDA's (see late)
up             bring a cluster up and leave it running; prints its run directory
late [RUN_DIR] KEDA's binaries and images, with RUN_DIR pushed into that run's registry:
               what the e2e run does beside the cluster's start and its first phase
               (prometheus-adapter), at nice 19
down [ID|all]  tear down one run (default: every run on this machine) and check the
               machine is as it was before it (exit 1 when not)
e2e [ARGS]     up, install the stack, pytest -m e2e tests/e2e [ARGS], logs on failure,
               down, check the machine: what `make e2e` runs without docker
stack DIR      (inside the namespace) install the stack into run DIR and run the tests
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType

from tests.localcluster import build, cluster, hostnet, prune
from tests.localcluster.layout import (
    LATE_PID,
    REPO_ROOT,
    RunState,
    cache_dir,
    existing_runs,
    runs_dir,
)
from tests.localcluster.progress import say, sh
from tests.support.kube import tool

ARTIFACTS = REPO_ROOT / ".run" / "e2e"


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def collect_logs(state: RunState) -> Path:
    """Like ``kind export logs``: every component's and every pod's log, and the objects."""
    out = ARTIFACTS / f"local-{state.run_id}"
    out.mkdir(parents=True, exist_ok=True)
    run_dir = Path(state.run_dir)
    for part in ("logs", "pod-logs"):
        if (run_dir / part).is_dir():
            shutil.copytree(run_dir / part, out / part, dirs_exist_ok=True)
    base = [
        *hostnet.nsenter(state.netns),
        tool("kubectl"),
        "--kubeconfig",
        str(run_dir / "admin.kubeconfig"),
    ]
    dumps = {
        "objects.txt": [
            "get",
            "all,pvc,pv,rqueue,hpa,pdb,networkpolicy,apiservice",
            "-A",
            "-o",
            "wide",
        ],
        "events.txt": ["get", "events", "-A", "--sort-by=.lastTimestamp"],
        "describe-pods.txt": ["describe", "pods", "-A"],
        "describe-rqueue.txt": ["describe", "rqueue", "-A"],
        "nodes.txt": ["describe", "nodes"],
    }
    for name, args in dumps.items():
        (out / name).write_text(sh([*base, *args], check=False, timeout=60))
    say(f"diagnostics in {out} (component logs in logs/, every container's in pod-logs/)")
    return out


def _late(run_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """``late`` (with ``run_dir``: and its push) at nice 19, in a session of its own."""
    args = [str(run_dir)] if run_dir else []
    return subprocess.Popen(
        ["nice", "-n", "19", sys.executable, "-m", "tests.localcluster", "late", *args],
        cwd=REPO_ROOT,
        start_new_session=True,
    )


def _stop_running(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            _stop_session(proc)


def e2e(pytest_args: list[str]) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    # KEDA (build.LATE) runs only in the second phase: a cold machine compiles it beside the
    # project's images, the cluster's start and the first phase, at the lowest priority, so
    # they keep the CPU they use. Then a second `late` (waiting on the first's lock) pushes
    # its images into the run's registry; the second phase waits for that one.
    late = [_late()]
    try:
        up = cluster.up()
    except BaseException:
        _stop_running(late)
        raise
    run_dir = Path(up.state.run_dir)
    rc = 1
    try:
        late.append(_late(run_dir))
        (run_dir / LATE_PID).write_text(str(late[-1].pid), encoding="utf-8")
        done = subprocess.run(
            up.inside(
                [
                    sys.executable,
                    "-m",
                    "tests.localcluster",
                    "stack",
                    up.state.run_dir,
                    *pytest_args,
                ]
            ),
            cwd=REPO_ROOT,
            check=False,
        )
        rc = done.returncode
    finally:
        _stop_running(late)  # the run ended first (a subset of the tests, or a failure)
        if rc != 0:
            collect_logs(up.state)
        left = cluster.down(up.state)
    if left:
        return rc or 1
    return rc


def _stop_session(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole session, then SIGKILL whatever of it is left after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def down(which: str) -> int:
    runs = existing_runs() if which == "all" else [runs_dir() / which]
    if not runs:
        say(f"no runs under {runs_dir()}")
    left = []
    for run in runs:
        left += cluster.down(RunState.load(run))
    return 1 if left else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "check":
        problem = cluster.refusal()
        print(problem or "the local cluster can run here")
        return 3 if problem else 0
    if command == "tool":
        (component,) = [c for c in build.load_components() if c.name == rest[0]]
        print(build.build_component(component, cache_dir()) / component.binaries[0])
        return 0
    if command == "images":
        build.build_project_images()
        return 0
    if command == "build":
        build.ensure_cluster_images({**build.build_all(), **build.build_late()})
        build.build_project_images()
        prune.prune()
        return 0
    if command == "prebuild":
        problem = cluster.refusal()
        if problem:
            say(f"prebuild: nothing built, the local cluster cannot run here: {problem}")
            return 0
        build.build_all(fetch_late=True)
        prune.prune()
        return 0
    if command == "up":
        state = cluster.up().state
        cluster.late_images(Path(state.run_dir))
        print(json.dumps({"run_dir": state.run_dir, "netns": state.netns}))
        return 0
    if command == "late":
        if rest:
            cluster.late_images(Path(rest[0]))
        else:
            build.tool_images(build.build_late())
        return 0
    if command == "down":
        return down(rest[0] if rest else "all")
    if command == "e2e":
        return e2e(rest)
    if command == "stack":
        from tests.localcluster.stack import install_and_test

        return install_and_test(Path(rest[0]), rest[1:])
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
