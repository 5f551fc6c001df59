"""The part of the lock `pip freeze` cannot see: dependencies that only other Pythons install.

`make lock` writes constraints.txt from `pip freeze`, and the venv holds what *its* Python
needs. A requirement behind an environment marker for another Python is then missing: redis
needs async-timeout only below 3.11.3 (``python_full_version < '3.11.3'``), so a lock frozen on
3.11.13 lacked it, and the images built on Debian's python3 (3.11.2) installed an unpinned
version. This walks the Requires-Dist of the installed distributions, from the project with the
extras `make setup` installs, evaluating each marker for every CPython the project supports
(3.11.0 to 3.13.x, Linux x86_64 and aarch64), and reports or installs what is missing.

    python scripts/lock.py check     # exit 1, naming each requirement constraints.txt lacks
    python scripts/lock.py missing   # requirements the venv lacks (what `install` would add)
    python scripts/lock.py install   # pip install those (no deps, -c constraints.txt), repeated
                                     # until nothing is missing, so the freeze pins them

Offline except for `install`. Uses only the stdlib and `packaging` (in the venv via pytest).
"""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
PROJECT = "redis-queue-stack"
# What `make setup` installs; the images install ("exporter",) and ("operator",), subsets of it.
SETUP_EXTRAS = ("exporter", "operator", "test")
IMAGE_EXTRAS = (("exporter",), ("operator",))
# Every CPython the images and `make setup` may run (requires-python >= 3.11; the images use
# 3.11, Debian bookworm's python3 is 3.11.2). Micro versions up to 20 cover future releases.
PYTHON_MINORS = ((3, 11), (3, 12), (3, 13))
MAX_MICRO = 20
MACHINES = ("x86_64", "aarch64")
MAX_INSTALL_ROUNDS = 10


def canonical(name: str) -> str:
    """PEP 503 normalised name: ``Typing_Extensions`` and ``typing-extensions`` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def environments(
    minors: Iterable[tuple[int, int]] = PYTHON_MINORS, max_micro: int = MAX_MICRO
) -> list[dict[str, str]]:
    """Marker environments of Linux CPython for each supported full version and machine."""
    found = []
    for major, minor in minors:
        for micro in range(max_micro + 1):
            full = f"{major}.{minor}.{micro}"
            for machine in MACHINES:
                found.append(
                    {
                        "implementation_name": "cpython",
                        "implementation_version": full,
                        "os_name": "posix",
                        "platform_machine": machine,
                        "platform_python_implementation": "CPython",
                        "platform_system": "Linux",
                        "python_full_version": full,
                        "python_version": f"{major}.{minor}",
                        "sys_platform": "linux",
                    }
                )
    return found


@dataclass
class Need:
    """One required distribution: who requires it, how, and on which Pythons."""

    name: str
    requirements: dict[str, Requirement] = field(default_factory=dict)  # required_by -> req
    pythons: set[str] = field(default_factory=set)
    installed: bool = True

    @property
    def specifier(self) -> SpecifierSet:
        combined = SpecifierSet()
        for requirement in self.requirements.values():
            combined &= requirement.specifier
        return combined

    def describe(self) -> str:
        how = "; ".join(f"{by} requires {req}" for by, req in sorted(self.requirements.items()))
        return f"{self.name} (on Python {python_ranges(self.pythons)}: {how})"


def python_ranges(pythons: Iterable[str]) -> str:
    """``{"3.11.0", "3.11.1", "3.11.2", "3.13.0"}`` -> ``"3.11.0-3.11.2, 3.13.0"``."""
    runs: list[list[Version]] = []
    for version in sorted(map(Version, pythons)):
        last = runs[-1][-1] if runs else None
        if (
            last is not None
            and last.release[:2] == version.release[:2]
            and (version.micro == last.micro + 1)
        ):
            runs[-1].append(version)
        else:
            runs.append([version])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


@cache
def _requires(name: str) -> tuple[str, tuple[Requirement, ...]] | None:
    """Display name and requirements of an installed distribution; None if not installed."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return dist.metadata["Name"], tuple(Requirement(r) for r in dist.requires or ())


def closure(
    root: str = PROJECT,
    extras: Sequence[str] = SETUP_EXTRAS,
    envs: Sequence[dict[str, str]] | None = None,
) -> dict[str, Need]:
    """Every distribution ``root[extras]`` needs on any of ``envs``, by canonical name.

    Distributions not installed here are included (``installed=False``) but not walked: their
    own requirements are unknown offline (``install`` adds them, and the next walk sees them).
    """
    needs: dict[str, Need] = {}
    for env in environments() if envs is None else envs:
        todo = [(root, frozenset(extras))]
        seen: set[tuple[str, frozenset[str]]] = set()
        while todo:
            name, wanted = todo.pop()
            if (canonical(name), wanted) in seen:
                continue
            seen.add((canonical(name), wanted))
            found = _requires(canonical(name))
            if found is None:
                needs[canonical(name)].installed = False
                continue
            display, requirements = found
            for requirement in requirements:
                marker = requirement.marker
                if marker is not None and not any(
                    marker.evaluate({**env, "extra": extra}) for extra in (*wanted, "")
                ):
                    continue
                need = needs.setdefault(canonical(requirement.name), Need(requirement.name))
                need.requirements.setdefault(display, requirement)
                need.pythons.add(env["python_full_version"])
                todo.append((requirement.name, frozenset(requirement.extras)))
    needs.pop(canonical(root), None)
    return needs


def read_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """``{canonical name: version}`` from a constraints file of ``name==version`` lines."""
    pins = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        if not separator or not version.strip():
            raise ValueError(f"{path.name}:{number}: not a name==version pin: {line!r}")
        pins[canonical(name.strip())] = version.strip()
    return pins


def lock_problems(needs: dict[str, Need], pins: dict[str, str]) -> list[str]:
    """What the lock gets wrong for ``needs``: unpinned names and pins outside a specifier."""
    problems = []
    for name, need in sorted(needs.items()):
        if name not in pins:
            problems.append(f"not pinned: {need.describe()}")
        elif not need.specifier.contains(pins[name], prereleases=True):
            problems.append(
                f"pinned {name}=={pins[name]} outside {need.specifier}: {need.describe()}"
            )
    return problems


def missing_requirements(needs: dict[str, Need]) -> list[str]:
    """Requirement strings (name + combined specifier) of what this venv does not hold."""
    return [
        f"{need.name}{need.specifier}" for _, need in sorted(needs.items()) if not need.installed
    ]


def install_missing() -> int:
    for _ in range(MAX_INSTALL_ROUNDS):
        _requires.cache_clear()
        wanted = missing_requirements(closure())
        if not wanted:
            return 0
        print(f"lock: installing for other Pythons' markers: {' '.join(wanted)}", flush=True)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run([*command, "-c", str(CONSTRAINTS), *wanted], check=True)
    print("lock: requirements still missing after repeated installs", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lock.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("check", "missing", "install"))
    args = parser.parse_args(argv)
    if args.command == "install":
        return install_missing()
    needs = closure()
    if args.command == "missing":
        print("\n".join(missing_requirements(needs)))
        return 0
    problems = lock_problems(needs, read_pins())
    for problem in problems:
        print(f"constraints.txt: {problem}", file=sys.stderr)
    if problems:
        print("constraints.txt is incomplete: run `make lock`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
