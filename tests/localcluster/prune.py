"""Old products out of the cache: what no run on this machine has used for PRUNE_DAYS.

Every key of a component, root filesystem or registry copy stays in the cache once built, so
a machine that runs many commits' CI collects them (a KEDA binary directory is 160-290 MB, a
registry copy 300-600 MB). Why by age and not by "not the current key": two clones at
different commits (two branches' CI on one machine) use different keys, and removing the
other's would make every one of its runs cold again (half an hour). Each use of a product
refreshes its stamp's time (:func:`build.built_once`), so what goes is what nothing here
asked for in two weeks. A product whose lock another process holds is left alone. The Go
build cache prunes itself (Go drops entries unused for five days); the module cache is
kept, as modules of a pinned version never change.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from pathlib import Path

from tests.localcluster import build
from tests.localcluster.layout import cache_dir
from tests.localcluster.progress import say, sh

PRUNE_DAYS = 14
# Where keyed products live (each entry a directory named <name>-<key>, stamped when whole).
KEYED = ("bin", "rootfs", "go/trimmed", "registry")
PARTIAL = ".partial"


def stale(cache: Path, now: float, days: float = PRUNE_DAYS) -> list[Path]:
    """The keyed products (and interrupted builds) last used or touched over ``days`` ago."""
    cutoff = now - days * 86400
    found = []
    for kind in KEYED:
        root = cache / kind
        for entry in sorted(root.iterdir()) if root.is_dir() else []:
            if not entry.is_dir():
                continue
            stamp = build.stamp_of(entry)
            used = (stamp if stamp.exists() else entry).stat().st_mtime
            if used < cutoff:
                found.append(entry)
    return found


def _remove_unlocked(cache: Path, entry: Path) -> bool:
    """Remove ``entry`` unless a builder or user holds its product's lock."""
    lock = build.lock_path(cache, entry.name.removesuffix(PARTIAL))
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        shutil.rmtree(entry)
    return True


def orphan_trees(cache: Path) -> list[Path]:
    """Image trees (build.binary_tree: ``<binary>-<binary directory>``) whose binaries are gone."""
    found = []
    root = cache / "trees"
    for tree in sorted(root.iterdir()) if root.is_dir() else []:
        binaries = [p.name for p in (tree / "bin").glob("*") if not p.name.startswith(".")]
        made_from = tree.name.removeprefix(f"{binaries[0]}-") if len(binaries) == 1 else ""
        if not made_from or not (cache / "bin" / made_from).is_dir():
            found.append(tree)
    return found


def image_suffixes(removed: list[Path]) -> list[str]:
    """The tag endings of the images made from ``removed`` products: a tool image is tagged
    ``<version>-<binary directory>``, a root filesystem's ``<tag>-<key>``."""
    suffixes = []
    for entry in removed:
        if entry.parent.name == "bin":
            suffixes.append(f"-{entry.name}")
        elif entry.parent.name == "rootfs":
            suffixes.append(f"-{entry.name.rsplit('-', 1)[-1]}")
    return suffixes


def prune(cache: Path | None = None, days: float = PRUNE_DAYS) -> list[Path]:
    """Remove what :func:`stale` finds (and the trees and images made from it); say what."""
    cache = cache or cache_dir()
    removed = [e for e in stale(cache, time.time(), days) if _remove_unlocked(cache, e)]
    trees = orphan_trees(cache)
    for tree in trees:
        shutil.rmtree(tree)
    suffixes = image_suffixes(removed)
    if suffixes and shutil.which("buildah") and (cache / "buildah").is_dir():
        env = build.buildah_env(cache)
        names = sh(["buildah", "images", "--format", "{{.Name}}:{{.Tag}}"], env=env).split()
        for name in (n for n in names if n.endswith(tuple(suffixes))):
            sh(["buildah", "rmi", name], env=env, check=False)
    if removed or trees:
        gone = ", ".join(str(p.relative_to(cache)) for p in [*removed, *trees])
        say(f"cache: removed what no run used for {days:g} days: {gone}")
    return [*removed, *trees]
