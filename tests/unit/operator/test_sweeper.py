"""The sweeper that replaces Kopf timers: who runs when, driven by a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from queue_operator.naming import Owner
from queue_operator.sweeper import Schedule, Sweeper, Tracked


def item(name: str) -> Tracked:
    return Tracked(Owner(name, "work", f"uid-{name}"), 1, {})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A job that records who it ran for and returns a fixed delay (or raises)."""

    def __init__(self, delay: float, fail_for: str = "") -> None:
        self.delay = delay
        self.fail_for = fail_for
        self.runs: list[str] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, tracked: Tracked) -> float:
        self.runs.append(tracked.owner.name)
        await self.release.wait()
        if tracked.owner.name == self.fail_for:
            raise RuntimeError("bug")
        return self.delay


async def run(sweeper: Sweeper, now: float) -> list[str]:
    tasks = sweeper.start_due(now)
    await asyncio.gather(*tasks)
    return sorted(task.get_name() for task in tasks)


async def test_each_job_runs_at_its_own_pace_per_object() -> None:
    clock = Clock()
    index = {"uid-a": [item("a")], "uid-b": [item("b")]}
    repair, status = Recorder(delay=10), Recorder(delay=3)
    sweeper = Sweeper(
        index,
        {"repair": Schedule(repair, 10, 10), "status": Schedule(status, 0, 3)},
        clock=clock,
    )
    # Status reads start at once; the first drift repair waits an interval (the change handler
    # has just reconciled).
    assert await run(sweeper, 0) == ["status work/a", "status work/b"]
    assert await run(sweeper, 2.9) == []
    clock.now = 3
    assert await run(sweeper, 3) == ["status work/a", "status work/b"]
    clock.now = 10
    assert await run(sweeper, 10) == [
        "repair work/a",
        "repair work/b",
        "status work/a",  # due since 6
        "status work/b",
    ]
    assert repair.runs == ["a", "b"]


async def test_the_returned_delay_sets_the_next_run() -> None:
    clock = Clock()
    job = Recorder(delay=1)
    sweeper = Sweeper({"uid-a": [item("a")]}, {"repair": Schedule(job, 0, 60)}, clock=clock)
    await run(sweeper, 0)
    assert await run(sweeper, 1) == ["repair work/a"]  # a retry delay, not the interval


async def test_objects_that_leave_the_index_are_forgotten() -> None:
    clock = Clock()
    index = {"uid-a": [item("a")]}
    job = Recorder(delay=1)
    sweeper = Sweeper(index, {"status": Schedule(job, 0, 1)}, clock=clock)
    await run(sweeper, 0)
    del index["uid-a"]  # Kopf drops a deleted RedisQueue from its index
    assert await run(sweeper, 5) == []
    assert sweeper._due == {}


async def test_a_slow_run_is_not_started_twice_and_does_not_hold_up_others() -> None:
    clock = Clock()
    index = {"uid-a": [item("a")]}
    job = Recorder(delay=1)
    job.release.clear()
    sweeper = Sweeper(index, {"status": Schedule(job, 0, 1)}, clock=clock)
    (slow,) = sweeper.start_due(0)
    await asyncio.sleep(0)
    assert sweeper.start_due(5) == []  # still running for "a"
    index["uid-b"] = [item("b")]
    (other,) = sweeper.start_due(5)
    assert other.get_name() == "status work/b"
    job.release.set()
    await asyncio.gather(slow, other)


async def test_a_failing_job_is_logged_and_rescheduled(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    job = Recorder(delay=1, fail_for="a")
    index = {"uid-a": [item("a")], "uid-b": [item("b")]}
    sweeper = Sweeper(index, {"status": Schedule(job, 0, 7)}, clock=clock)
    await run(sweeper, 0)
    assert "status of work/a failed" in caplog.text
    assert await run(sweeper, 1) == ["status work/b"]
    assert await run(sweeper, 7) == ["status work/a", "status work/b"]


async def test_stop_cancels_the_loop_and_runs_in_flight() -> None:
    job = Recorder(delay=1)
    job.release.clear()
    sweeper = Sweeper({"uid-a": [item("a")]}, {"status": Schedule(job, 0, 1)}, poll=0.01)
    sweeper.start()
    for _ in range(100):  # bounded: the loop starts the run on its first pass
        if job.runs:
            break
        await asyncio.sleep(0.01)
    assert job.runs == ["a"]
    await sweeper.stop()
    assert sweeper._running == {}


async def test_run_soon_makes_a_job_due_now_and_again_after_a_run_in_flight() -> None:
    """A reconcile pass that started a rollout asks for the status read now, not in 30 s; if
    a read is running (it may have seen the StatefulSet before the change), one more follows."""
    clock = Clock()
    job = Recorder(delay=30)
    sweeper = Sweeper({"uid-a": [item("a")]}, {"status": Schedule(job, 0, 30)}, clock=clock)
    await run(sweeper, 0)
    clock.now = 1
    sweeper.run_soon("uid-a", "status")
    assert await run(sweeper, 1) == ["status work/a"]

    job.release.clear()
    clock.now = 31
    (in_flight,) = sweeper.start_due(31)
    await asyncio.sleep(0)
    sweeper.run_soon("uid-a", "status")
    job.release.set()
    await in_flight
    clock.now = 32
    assert await run(sweeper, 32) == ["status work/a"]
    assert job.runs == ["a", "a", "a", "a"]
