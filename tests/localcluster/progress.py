"""One progress line per step, with its time: a cold build takes many minutes, so say so."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

# One clock for a run and the processes it starts: the stack and its tests run in a child
# process inside the cluster's network namespace, and lines counted from that child's own start
# would jump back to 0 s there and ahead again at the teardown, which reads like minutes lost
# between them. CLOCK_MONOTONIC is one clock for every process of the machine.
START_ENV = "REDIS_QUEUE_PROGRESS_START"
_START = float(os.environ.setdefault(START_ENV, repr(time.monotonic())))


def say(message: str) -> None:
    print(f"[cluster {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(what: str, *, expect: str = "") -> Iterator[None]:
    """``what ...`` before, ``what: done in N s`` (or ``FAILED``) after."""
    say(f"{what} ..." + (f" ({expect})" if expect else ""))
    began = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"{what}: FAILED after {time.monotonic() - began:.1f}s")
        raise
    say(f"{what}: done in {time.monotonic() - began:.1f}s")


class CommandFailed(RuntimeError):
    """A set-up command failed; the message carries its last lines of output."""


def sh(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log: Path | None = None,
    input_text: str | None = None,
    timeout: float | None = None,
    check: bool = True,
    status: bool = False,
) -> str:
    """Run ``cmd``; its output goes to ``log`` when given (long builds), else is returned.

    With ``status`` the exit status is returned instead (as text), for yes/no commands.
    """
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a", encoding="utf-8") as out:
            out.write(f"$ {' '.join(cmd)}\n")
            out.flush()
            done = subprocess.run(
                list(cmd),
                env=dict(env) if env is not None else None,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                input=input_text,
                text=True,
                timeout=timeout,
                check=False,
            )
        if check and done.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            raise CommandFailed(
                f"`{' '.join(cmd)}` exited {done.returncode} (full log: {log}):\n" + "\n".join(tail)
            )
        return ""
    done = subprocess.run(
        list(cmd),
        env=dict(env) if env is not None else None,
        cwd=cwd,
        capture_output=True,
        input=input_text,
        text=True,
        timeout=timeout,
        check=False,
    )
    if status:
        return str(done.returncode)
    if check and done.returncode != 0:
        raise CommandFailed(
            f"`{' '.join(cmd)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout
