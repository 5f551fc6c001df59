"""The comparison table and the performance targets, evaluated with PASS/MISS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    measured: str
    passed: bool


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def evaluate(results: dict[str, Any]) -> list[Target]:
    """The performance targets (docs/benchmark.md), from the scenario results."""
    targets: list[Target] = []
    by_queues = {s["queues"]: s for s in results["scenarios"]}

    def p50(s: dict[str, Any], who: str) -> float:
        return float(s[who]["sequential"]["p50_ms"])

    if 1000 in by_queues:
        s = by_queues[1000]
        r = _ratio(p50(s, "ours"), p50(s, "theirs"))
        targets.append(
            Target("p50 @ 1000 queues", "ours <= 1/20 of theirs", f"1/{1 / r:.1f}", r <= 1 / 20)
        )
        f = s["floor"]
        for heads, key in (
            ("same", "ours_same_heads_p50_ms"),
            ("changed", "ours_changed_heads_p50_ms"),
        ):
            x = f[key] / f["p50_ms"]
            label = f"p50 @ 1000 q vs floor, heads {heads}"
            targets.append(Target(label, "<= 3x floor", f"{x:.1f}x", x <= 3))
    if 1 in by_queues:
        s = by_queues[1]
        r = _ratio(p50(s, "ours"), p50(s, "theirs"))
        targets.append(Target("p50 @ 1 queue", "ours <= 1/2 of theirs", f"1/{1 / r:.1f}", r <= 0.5))
    for queues in sorted(by_queues):
        s = by_queues[queues]
        x = _ratio(s["ours"]["concurrent"]["rps"], s["theirs"]["concurrent"]["rps"])
        label = f"throughput, {s['ours']['concurrent']['concurrency']} scrapers @ {queues} q"
        targets.append(Target(label, ">= 3x theirs", f"{x:.1f}x", x >= 3))
    worst_rss = max(s["ours"]["rss_bytes"] for s in results["scenarios"])
    targets.append(
        Target(
            "our RSS (max over scenarios)",
            "< 40 MiB",
            f"{worst_rss / MIB:.1f} MiB",
            worst_rss < 40 * MIB,
        )
    )
    return targets


def read_floor(floor: dict[str, Any]) -> float:
    """Our read bare plus the constant HTTP answer (p50 ms): what the read itself costs a scrape
    before the exporter does any work of its own (bench/floor.py)."""
    return float(floor["bare_read_p50_ms"]) + float(floor["http_p50_ms"])


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [_row(header, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(r, widths) for r in rows]
    return "\n".join(lines)


Metric = tuple[str, Callable[[dict[str, Any]], float], str, bool]

METRICS: list[Metric] = [
    # label, getter, format, "lower is better"
    ("p50 latency (ms)", lambda e: e["sequential"]["p50_ms"], "{:.2f}", True),
    ("p99 latency (ms)", lambda e: e["sequential"]["p99_ms"], "{:.2f}", True),
    ("throughput, 8 scrapers (req/s)", lambda e: e["concurrent"]["rps"], "{:.1f}", False),
    ("CPU per scrape (ms)", lambda e: e["cpu_ms_per_scrape"], "{:.2f}", True),
    ("Redis CPU per scrape (ms)", lambda e: e["redis_cpu_ms_per_scrape"], "{:.2f}", True),
    ("RSS after run (MiB)", lambda e: e["rss_bytes"] / MIB, "{:.1f}", True),
    ("body size (KiB)", lambda e: e["sequential"]["body_bytes"] / 1024, "{:.1f}", True),
]


def _floor_table(results: dict[str, Any]) -> str:
    rows = []
    for s in results["scenarios"]:
        f = s["floor"]
        same, changed = f["ours_same_heads_p50_ms"], f["ours_changed_heads_p50_ms"]
        script = f["redis_script_same_heads_p50_ms"]
        least = read_floor(f)
        rows.append(
            [
                f"{s['queues']} queue(s)",
                f"{f['llen_p50_ms']:.2f}",
                f"{f['http_p50_ms']:.2f}",
                f"{f['p50_ms']:.2f}",
                f"{same:.2f}",
                f"{same / f['p50_ms']:.1f}x",
                f"{changed:.2f}",
                f"{changed / f['p50_ms']:.1f}x",
                f"{script:.2f}",
                f"{script / f['p50_ms']:.1f}x",
                f"{f['bare_read_p50_ms']:.2f}",
                f"{least / f['p50_ms']:.1f}x",
                f"{same / least:.1f}x",
            ]
        )
    title = (
        "Floor, measured in turns with our scrape (p50 ms: raw pipelined LLEN + constant HTTP "
        "answer of our body's size)"
    )
    header = ["", "raw LLEN", "constant HTTP", "floor", "ours", "vs floor"]
    header += ["ours, heads changed", "vs floor", "Redis in our read (heads unchanged)", "vs floor"]
    header += ["our read, bare", "+ constant HTTP vs floor", "ours vs that"]
    note = (
        "Our read, bare: the exporter's request on a raw socket, replies parsed in C; with the "
        "constant HTTP answer it is the least any exporter making this read can take."
    )
    return title + "\n" + _table(header, rows) + "\n" + note


def _heads_table(runs: list[dict[str, Any]]) -> str:
    base = runs[0]["redis_blocked_ms_per_scrape"] or float("nan")
    rows = [
        [
            f"{r['head_bytes']:,} B",
            f"{r['p50_ms']:.2f}",
            f"{r['redis_blocked_ms_per_scrape']:.2f}",
            f"{r['redis_blocked_ms_per_scrape'] / base:.1f}x",
            f"{r['redis_bytes_sent_per_scrape'] / 1024:.1f}",
        ]
        for r in runs
    ]
    return (
        "Large heads (10 queues, the next job of each this large; queue-exporter only)\n"
        + _table(
            [
                "next job",
                "p50 ms",
                "Redis blocked ms/scrape",
                "vs smallest",
                "Redis sent KiB/scrape",
            ],
            rows,
        )
    )


def render(results: dict[str, Any]) -> str:
    parts: list[str] = []
    for s in results["scenarios"]:
        rows = []
        for label, get, fmt, lower_better in METRICS:
            ours, theirs = get(s["ours"]), get(s["theirs"])
            if not ours or not theirs:
                ratio = "-"
            elif lower_better and ours <= theirs:
                ratio = f"1/{theirs / ours:.1f}"
            else:
                ratio = f"{ours / theirs:.2f}x"
            rows.append([label, fmt.format(ours), fmt.format(theirs), ratio])
        n = s["ours"]["sequential"]["count"], s["theirs"]["sequential"]["count"]
        c = s["ours"]["concurrent"]["requests"], s["theirs"]["concurrent"]["requests"]
        title = (
            f"{s['queues']} queue(s), {s['jobs_per_queue']} jobs each "
            f"(sequential samples {n[0]}/{n[1]}, concurrent requests {c[0]}/{c[1]})"
        )
        parts.append(
            title + "\n" + _table(["", "queue-exporter", "redis_exporter", "ours vs theirs"], rows)
        )
    parts.append(_floor_table(results))
    if results.get("large_heads"):
        parts.append(_heads_table(results["large_heads"]))
    targets = evaluate(results)
    parts.append(
        "Targets\n"
        + _table(
            ["target", "wanted", "measured", "result"],
            [[t.name, t.wanted, t.measured, "PASS" if t.passed else "MISS"] for t in targets],
        )
    )
    return "\n\n".join(parts)
