"""The queue library stands alone: producers and workers install it without aiohttp.

Checked two ways that can each fail on their own: every ``queue_core`` module imports in a fresh
interpreter where ``aiohttp`` cannot be imported at all, and the distribution's requirements
without extras name no aiohttp (only the exporter and operator extras do).
"""

from __future__ import annotations

import importlib.metadata
import pkgutil
import subprocess
import sys
import textwrap

import queue_core


def core_modules() -> list[str]:
    return sorted(f"queue_core.{m.name}" for m in pkgutil.iter_modules(queue_core.__path__))


def test_core_has_the_library_modules() -> None:
    assert {
        "queue_core.jobs",
        "queue_core.queue",
        "queue_core.snapshot",
        "queue_core.connection",
        "queue_core.settings",
        "queue_core.queuectl",
    } <= set(core_modules())


def test_every_core_module_imports_without_aiohttp() -> None:
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.modules["aiohttp"] = None  # any "import aiohttp" now raises ImportError
        for name in {core_modules()!r}:
            importlib.import_module(name)
        leaked = sorted(
            name
            for name, module in sys.modules.items()
            if module is not None and name.startswith(("aiohttp", "queue_exporter"))
        )
        print(leaked)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", "queue_core pulled in the exporter or aiohttp"


def test_base_requirements_name_no_aiohttp() -> None:
    requirements = importlib.metadata.requires("redis-queue-stack") or []
    base = [r for r in requirements if "extra ==" not in r]
    assert any(r.startswith("redis") for r in base)
    assert not [r for r in base if r.startswith("aiohttp")]
    with_extra = [r for r in requirements if r.startswith("aiohttp")]
    assert with_extra, "the exporter and operator extras should still bring aiohttp"
