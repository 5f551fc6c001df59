"""The exporter's own families: ``process_*`` from ``/proc`` text, build info, scrape counters.

``process_families`` is checked against prometheus_client's ``ProcessCollector`` reading the
same text from a directory laid out like ``/proc``: the names and values users know from every
other exporter, without importing the library in the exporter.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from redis import exceptions as redis_errors

from queue_core.snapshot import LoadingState, QueueState
from queue_exporter import metrics
from queue_exporter.collector import error_reason, read_proc
from tests.unit.exporter.test_metrics import NOW, parsed, samples, snapshot

# A command name with spaces and parentheses: fields must be counted after the last ")".
STAT = (
    "4242 (queue (exp) x) S 1 4242 4242 0 -1 4194560 2519 0 0 0 150 25 0 0 20 0 3 0 "
    "123456 257236992 9137 18446744073709551615 1 1 0 0 0 0 0 16781312 17410 0 0 0 17 1 0 0 "
    "0 0 0 0 0 0 0 0 0 0 0\n"
)
LIMITS = (
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            1024                 524288               files     \n"
)
SYSTEM_STAT = "cpu  1 2 3 4\nbtime 1700000000\nprocesses 9\n"


def proc_text(limits: str = LIMITS) -> metrics.ProcText:
    return metrics.ProcText(
        stat=STAT,
        limits=limits,
        system_stat=SYSTEM_STAT,
        open_fds=3,
        clock_ticks=100,
        page_size=4096,
    )


def test_process_families_match_prometheus_client_on_the_same_proc_text(
    tmp_path: Path,
) -> None:
    (tmp_path / "stat").write_text(SYSTEM_STAT)
    pid = tmp_path / "4242"
    (pid / "fd").mkdir(parents=True)
    for fd in range(3):
        (pid / "fd" / str(fd)).touch()
    (pid / "stat").write_text(STAT)
    (pid / "limits").write_text(LIMITS)
    registry = CollectorRegistry()
    collector = ProcessCollector(pid=lambda: 4242, proc=str(tmp_path), registry=registry)
    collector._pagesize = 4096  # the page size this sample was taken with
    collector._ticks = 100
    expected = parsed(generate_latest(registry))

    ours = metrics.render(metrics.process_families(proc_text()))
    got = parsed(ours)
    assert got.keys() == expected.keys()
    assert got == pytest.approx(expected)
    assert got[("process_resident_memory_bytes", ())] == 9137 * 4096
    assert got[("process_cpu_seconds_total", ())] == pytest.approx(1.75)
    assert got[("process_start_time_seconds", ())] == pytest.approx(1700000000 + 1234.56)
    assert "# TYPE process_cpu_seconds_total counter" in ours.decode()


def test_unlimited_open_files_is_infinity_and_a_missing_limit_no_series() -> None:
    unlimited = LIMITS.replace("1024                 524288", "unlimited            unlimited")
    assert samples(metrics.process_families(proc_text(unlimited)))[
        ("process_max_fds", ())
    ] == float("inf")
    without = "\n".join(line for line in LIMITS.splitlines() if "open files" not in line)
    names = {family.name for family in metrics.process_families(proc_text(without))}
    assert metrics.PROCESS_MAX_FDS not in names
    assert metrics.PROCESS_OPEN_FDS in names


def test_this_process_proc_text_is_read_on_linux() -> None:
    proc = read_proc()
    assert proc is not None  # the test machines are Linux
    got = samples(metrics.process_families(proc))
    assert got[("process_open_fds", ())] >= 3
    assert got[("process_max_fds", ())] >= got[("process_open_fds", ())]


def test_build_info_is_one_sample_with_both_labels() -> None:
    text = metrics.render([metrics.build_info_family("1.2.3", "3.11.7")]).decode()
    assert text.splitlines()[-1] == (
        'redis_queue_exporter_build_info{version="1.2.3",python_version="3.11.7"} 1.0'
    )


def test_scrape_stats_announce_every_reason_and_flag_the_last_error() -> None:
    ok = samples(metrics.scrape_stats_families(3, {}, None))
    assert ok[("redis_queue_exporter_scrapes_total", ())] == 3.0
    assert ok[("redis_queue_exporter_last_scrape_error", ())] == 0.0
    assert {
        dict(labels)["reason"]
        for name, labels in ok
        if name == "redis_queue_exporter_scrape_errors_total"
    } == set(metrics.SCRAPE_ERROR_REASONS)
    failed = samples(metrics.scrape_stats_families(4, {"timeout": 2}, "timeout"))
    assert failed[("redis_queue_exporter_scrape_errors_total", (("reason", "timeout"),))] == 2.0
    assert failed[("redis_queue_exporter_last_scrape_error", ())] == 1.0
    text = metrics.render(metrics.scrape_stats_families(1, {}, None)).decode()
    assert "# TYPE redis_queue_exporter_scrapes_total counter" in text


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (TimeoutError(), "timeout"),
        (redis_errors.TimeoutError("Timeout reading from socket"), "timeout"),
        (redis_errors.AuthenticationError("invalid username-password pair"), "auth"),
        (redis_errors.NoPermissionError("NOPERM"), "auth"),
        (redis_errors.ConnectionError("Connection refused"), "connection"),
        (ConnectionRefusedError(111, "refused"), "connection"),
        (redis_errors.ResponseError("ERR unknown command"), "response"),
        (redis_errors.DataError("bad"), "other"),
    ],
)
def test_error_reasons(error: BaseException, reason: str) -> None:
    assert error_reason(error) == reason
    assert reason in metrics.SCRAPE_ERROR_REASONS


def test_every_name_has_a_prefix_and_only_counters_end_in_total() -> None:
    names = [
        value
        for key, value in vars(metrics).items()
        if key.isupper() and isinstance(value, str) and key not in {"CONTENT_TYPE"}
    ]
    assert names
    for name in names:
        assert name.startswith(("redis_queue_", "process_")), name
    families = [
        *metrics.build_families(snapshot(QueueState("q", 1, NOW)), 0.1, NOW),
        *metrics.build_families(None, 0.1, NOW, LoadingState(0.5, 1.0)),
        *metrics.scrape_stats_families(1, {}, None),
        metrics.build_info_family("1", "3.11"),
        *metrics.process_families(proc_text()),
    ]
    assert {f.name for f in families} == set(names) - {"redis_queue_", "redis_queue_exporter_"}
    for family in families:
        assert family.name.endswith("_total") == (family.type == "counter"), family.name
