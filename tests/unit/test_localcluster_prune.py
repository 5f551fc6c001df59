"""What the cache prune removes: products nothing used for two weeks, never one in use (its
stamp refreshed by a use, or its lock held by another process), and what was made from them."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.localcluster.build import built_once, lock_path, stamp_of
from tests.localcluster.prune import image_suffixes, orphan_trees, prune, stale

DAY = 86400.0


def _fill(tmp: Path) -> None:
    tmp.mkdir()
    (tmp / "file").write_text("x")


def _product(cache: Path, kind: str, name: str, age_days: float) -> Path:
    out = built_once(cache, cache / kind / name, _fill)
    then = time.time() - age_days * DAY
    os.utime(stamp_of(out), (then, then))
    return out


def test_only_products_unused_for_longer_than_the_limit_are_stale(tmp_path: Path) -> None:
    old = _product(tmp_path, "bin", "keda-aaaaaaaaaaaa", 20)
    new = _product(tmp_path, "bin", "keda-bbbbbbbbbbbb", 2)
    seed = _product(tmp_path, "registry", "cccccccccccc", 30)
    interrupted = tmp_path / "rootfs" / "python-dddddddddddd.partial"
    interrupted.mkdir(parents=True)
    then = time.time() - 15 * DAY
    os.utime(interrupted, (then, then))
    assert stale(tmp_path, time.time(), 14) == [old, interrupted, seed]  # in KEYED order
    assert new not in stale(tmp_path, time.time(), 14)


def test_a_use_makes_an_old_product_fresh_again(tmp_path: Path) -> None:
    old = _product(tmp_path, "rootfs", "redis-eeeeeeeeeeee", 20)
    assert stale(tmp_path, time.time(), 14) == [old]
    built_once(tmp_path, old, lambda tmp: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert stale(tmp_path, time.time(), 14) == []


def test_prune_removes_old_products_and_the_trees_made_from_them(tmp_path: Path) -> None:
    old = _product(tmp_path, "bin", "keda-aaaaaaaaaaaa", 20)
    kept = _product(tmp_path, "bin", "etcd-ffffffffffff", 1)
    for binary, made_from in (("keda-operator", old.name), ("etcd", kept.name)):
        (tmp_path / "trees" / f"{binary}-{made_from}" / "bin").mkdir(parents=True)
        (tmp_path / "trees" / f"{binary}-{made_from}" / "bin" / binary).write_text("elf")
    removed = prune(tmp_path, days=14)
    assert removed == [old, tmp_path / "trees" / f"keda-operator-{old.name}"]
    assert not old.exists()
    assert kept.exists()
    assert (tmp_path / "trees" / f"etcd-{kept.name}" / "bin" / "etcd").exists()


def test_a_product_whose_lock_another_process_holds_is_left_alone(tmp_path: Path) -> None:
    old = _product(tmp_path, "go/trimmed", "keda-aaaaaaaaaaaa-source", 20)
    lock = lock_path(tmp_path, old.name)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, sys, time; f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); time.sleep(30)", str(lock)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        assert prune(tmp_path, days=14) == []
        assert old.exists()
    finally:
        holder.kill()
        holder.wait()
    assert prune(tmp_path, days=14) == [old]


def test_a_tree_of_no_known_binary_directory_is_an_orphan(tmp_path: Path) -> None:
    (tmp_path / "bin" / "pause-111111111111").mkdir(parents=True)
    for name, binary in (
        ("pause-pause-111111111111", "pause"),
        ("pause-pause-222222222222", "pause"),
    ):
        (tmp_path / "trees" / name / "bin").mkdir(parents=True)
        (tmp_path / "trees" / name / "bin" / binary).write_text("elf")
    assert orphan_trees(tmp_path) == [tmp_path / "trees" / "pause-pause-222222222222"]


def test_images_are_matched_by_the_tag_ending_their_product_gave_them() -> None:
    removed = [Path("/c/bin/keda-aaaaaaaaaaaa"), Path("/c/rootfs/python-bbbbbbbbbbbb"),
               Path("/c/registry/cccccccccccc")]  # fmt: skip
    # tool images: rqs.test/keda-operator:v2.21.0-keda-aaaaaaaaaaaa; root filesystems:
    # rqs.test/python:3.11-bookworm-bbbbbbbbbbbb; a registry copy makes no image.
    assert image_suffixes(removed) == ["-keda-aaaaaaaaaaaa", "-bbbbbbbbbbbb"]
