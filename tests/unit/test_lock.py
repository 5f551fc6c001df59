"""constraints.txt (the lock) is complete for every Python the images and `make setup` may run.

`pip freeze` only sees what the venv's own Python needed, so a dependency behind a marker for
another Python went unpinned: redis requires async-timeout below 3.11.3, the lock was frozen on
3.11.13, and the images built on Debian's python3 3.11.2 installed an unpinned async-timeout.
These tests walk the Requires-Dist of the installed distributions with the markers evaluated
for CPython 3.11.0 to 3.13.x (scripts/lock.py, which `make lock` also runs) and need no network;
tests/unit/test_images_kind.py resolves the images' lock against PyPI for 3.11.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lock_script", ROOT / "scripts" / "lock.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


lock = _load_lock_script()
PINS = lock.read_pins()
ENVS = lock.environments()


def pythons_of(envs: list[dict[str, str]]) -> set[str]:
    return {env["python_full_version"] for env in envs}


def test_the_walk_covers_cpython_3_11_0_to_3_13() -> None:
    pythons = pythons_of(ENVS)
    assert {"3.11.0", "3.11.2", "3.11.3", "3.11.13", "3.12.0", "3.13.0"} <= pythons
    assert {p.rsplit(".", 1)[0] for p in pythons} == {"3.11", "3.12", "3.13"}
    assert {env["platform_machine"] for env in ENVS} == {"x86_64", "aarch64"}


@pytest.mark.parametrize(
    "extras",
    [*lock.IMAGE_EXTRAS, lock.SETUP_EXTRAS],
    ids=[*("+".join(e) for e in lock.IMAGE_EXTRAS), "make-setup"],
)
def test_lock_pins_every_dependency_on_every_supported_python(extras: tuple[str, ...]) -> None:
    needs = lock.closure(extras=extras, envs=ENVS)
    # The walk reached the images' real dependencies (not an empty set that passes vacuously).
    assert {"redis", "pydantic", "hiredis", "aiohttp"} <= set(needs)
    if "operator" in extras:
        assert "kopf" in needs
    problems = lock.lock_problems(needs, PINS)
    assert not problems, "constraints.txt is incomplete (run `make lock`):\n" + "\n".join(problems)


def test_async_timeout_is_pinned_for_debians_python_3_11_2() -> None:
    """The case that broke the images: Debian bookworm's python3 is 3.11.2."""
    debian = [env for env in ENVS if env["python_full_version"] == "3.11.2"]
    needs = lock.closure(extras=("exporter",), envs=debian)
    assert "async-timeout" in needs
    assert "async-timeout" in PINS
    newer = [env for env in ENVS if env["python_full_version"] == "3.11.3"]
    assert "async-timeout" not in lock.closure(extras=("exporter",), envs=newer)


def test_an_incomplete_lock_is_reported_with_the_pythons_and_the_requirer() -> None:
    needs = lock.closure(extras=("exporter",), envs=ENVS)
    without = {name: v for name, v in PINS.items() if name != "async-timeout"}
    (problem,) = lock.lock_problems(needs, without)
    assert problem.startswith("not pinned: async-timeout (on Python 3.11.0-3.11.2: redis requires")
    assert "python_full_version" in problem


def test_a_pin_outside_a_requirement_is_reported() -> None:
    needs = lock.closure(extras=("exporter",), envs=ENVS)
    bad = {**PINS, "async-timeout": "3.0.1"}  # redis wants >= 4.0.3
    (problem,) = lock.lock_problems(needs, bad)
    assert problem.startswith("pinned async-timeout==3.0.1 outside >=4.0.3")


def test_installed_distributions_are_at_their_pinned_versions() -> None:
    """The venv is built from the lock, and `make lock` freezes the venv: the two agree."""
    needs = lock.closure(envs=ENVS)
    drift = {
        name: (metadata.version(name), PINS[name])
        for name, need in needs.items()
        if need.installed and name in PINS and metadata.version(name) != PINS[name]
    }
    assert not drift, f"installed != pinned (run `make setup`): {drift}"


def test_constraints_lines_are_exact_pins(tmp_path: Path) -> None:
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version) for version in PINS.values())
    bad = tmp_path / "constraints.txt"
    bad.write_text("redis>=5\n")
    with pytest.raises(ValueError, match="not a name==version pin"):
        lock.read_pins(bad)


def test_lock_script_check_passes_and_missing_lists_only_pinned_names() -> None:
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock.py"), "check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    missing = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock.py"), "missing"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    # What `make lock` would install before freezing is pinned already, at a fitting version.
    for line in missing.stdout.split():
        name = lock.canonical(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0])
        assert name in PINS, line


def test_make_lock_adds_marker_dependencies_before_the_freeze_and_checks_after() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lock:.*\n((?:\t.*\n|.*\\\n)+)", makefile, re.MULTILINE)
    assert recipe, "no `lock` target in the Makefile"
    steps = recipe.group(1)
    install, freeze, check = (
        steps.index("scripts/lock.py install"),
        steps.index("pip freeze"),
        steps.index("scripts/lock.py check"),
    )
    assert install < freeze < check
