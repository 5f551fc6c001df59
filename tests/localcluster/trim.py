"""Upstream components built without the plug-ins the test cluster never runs.

Why: two upstreams link every plug-in they have, and with them the SDKs of every cloud and
service those talk to. KEDA's two binaries link its 70-odd scalers (3710 packages, the longest
compilation of a cold run after Kubernetes itself: 7 to 11 minutes on 2 cores); CoreDNS links
its 60 plug-ins (1376 packages, 2.5 to 3 minutes). The cluster uses two KEDA triggers (the
chart's ScaledObject: ``prometheus`` and, by default, ``redis``) and the six CoreDNS plug-ins
of its Corefile. So such a component is built from a copy of its upstream module, trimmed in
one of two ways (components.json ``trim``):

- :class:`StubOut` (KEDA): a package keeps the files named, and the constructors of the
  others become stubs that answer an error naming themselves, so upstream's callers (KEDA's
  switch over trigger types) compile unchanged: 1959 packages;
- :class:`KeepImports` (CoreDNS): the file that imports every plug-in for its registration
  keeps the imports of the plug-ins named: 781 packages.

Everything else is upstream's code as pinned by the wrapper's go.sum; the copy is named by a
``replace`` of the wrapper module, so the module graph, and every other package's version, is
the wrapper's. A use the copy lacks fails loudly: a stubbed KEDA trigger with its stub's
error, an unbuilt CoreDNS plug-in with "unknown directive" at start, and the unit tests
check that the chart's triggers and the Corefile's plug-ins are among the kept ones.

:func:`stub_source` and :func:`keep_imports` are pure (Go source in, Go source out) so the
edits are unit-tested without Go; :func:`prepare` writes the tree a ``go build`` runs in.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The file written into the trimmed package in place of the removed ones.
STUB_FILE = "zz_not_built.go"

# A constructor as KEDA writes them, on one line: ``func NewXScaler(<params>) (<type>, error) {``.
_CONSTRUCTOR = re.compile(r"^func (New\w+)\((.*)\) \((\*?\w+), error\) \{$", re.MULTILINE)
_TYPE = re.compile(r"^type (\w+) ", re.MULTILINE)
_IMPORT_BLOCK = re.compile(r"^import \((.*?)^\)", re.MULTILINE | re.DOTALL)
_IMPORT_LINE = re.compile(r'^\s*(?:(\w+)\s+)?"([^"]+)"\s*$', re.MULTILINE)
_QUALIFIER = re.compile(r"\b(\w+)\.\w")
# A constant of a const block (tab-indented) or of its own line: name, optional type, value.
_CONST_BLOCK = re.compile(r"^const \((.*?)^\)", re.MULTILINE | re.DOTALL)
_CONST_IN_BLOCK = re.compile(r"^\t(\w+)((?: \w+)?\s*=.*)$", re.MULTILINE)
_CONST_LINE = re.compile(r"^const (\w+)((?: \w+)?\s*=.*)$", re.MULTILINE)
_WORD = re.compile(r"\b\w+\b")


@dataclass(frozen=True)
class StubOut:
    """A package of which only ``keep`` stays; the constructors of its other files are stubbed.

    ``interface`` is the type a stub returns where the removed constructor returned a type of
    its own file.
    """

    package: str
    keep: tuple[str, ...]
    interface: str


@dataclass(frozen=True)
class KeepImports:
    """A file of blank imports (plug-ins registering themselves) that keeps those whose last
    path element is in ``keep``."""

    file: str
    keep: tuple[str, ...]


@dataclass(frozen=True)
class Trim:
    """Which upstream module is copied, and the one edit made to the copy."""

    module: str
    edit: StubOut | KeepImports


def _imports(text: str) -> dict[str, str]:
    """A Go file's imports by the name the file uses for them (alias, else last element)."""
    found: dict[str, str] = {}
    for block in _IMPORT_BLOCK.findall(text):
        for alias, path in _IMPORT_LINE.findall(block):
            found[alias or path.rsplit("/", 1)[-1]] = path
    return found


def _constants(text: str) -> dict[str, str]:
    """A Go file's top-level constants: name -> the rest of its spec (`` = "x"``)."""
    found = dict(_CONST_LINE.findall(text))
    for block in _CONST_BLOCK.findall(text):
        found.update(_CONST_IN_BLOCK.findall(block))
    return found


def carried_constants(removed: Mapping[str, str], kept: Mapping[str, str]) -> list[str]:
    """The constant specs of removed files that kept files use (``name = value``), in name
    order: upstream declares some shared constants beside one scaler (the Prometheus scaler
    uses the Azure queue scaler's ``externalMetricType``, the Redis one Kafka's
    ``stringEnable``). A word of a kept file that names one counts as a use; a constant the
    kept files declare themselves is theirs."""
    used = {word for text in kept.values() for word in _WORD.findall(text)}
    own = {name for text in kept.values() for name in _constants(text)}
    offered: dict[str, str] = {}
    for text in removed.values():
        offered.update(_constants(text))
    return [f"{name}{rest}" for name, rest in sorted(offered.items()) if name in used - own]


def stub_source(
    package: str, removed: Mapping[str, str], kept: Mapping[str, str], trim: StubOut
) -> str:
    """The Go file that stands in for ``removed`` (file name -> text) beside ``kept``.

    Every exported constructor of a removed file keeps its exact parameters, so the callers
    upstream compile unchanged, and returns an error naming itself. Imports are those its
    parameters need, taken from the removed file that declared them; the constants the kept
    files use are carried over (:func:`carried_constants`).
    """
    own_types = {name for text in removed.values() for name in _TYPE.findall(text)}
    imports: dict[str, str] = {}
    stubs: list[str] = []
    for file_name, text in sorted(removed.items()):
        known = _imports(text)
        for name, params, returned in _CONSTRUCTOR.findall(text):
            for qualifier in _QUALIFIER.findall(params):
                if qualifier not in known:
                    raise ValueError(f"{file_name}: {name} uses {qualifier!r}, not imported")
                imports[qualifier] = known[qualifier]
            kind = trim.interface if returned.lstrip("*") in own_types else returned
            stubs.append(
                f'func {name}({params}) ({kind}, error) {{\n\treturn nil, notBuilt("{name}")\n}}\n'
            )
    imports["fmt"] = "fmt"
    lines = "".join(
        f'\t"{path}"\n' if alias == path.rsplit("/", 1)[-1] else f'\t{alias} "{path}"\n'
        for alias, path in sorted(imports.items(), key=lambda item: item[1])
    )
    carried = carried_constants(removed, kept)
    declared = "const (\n" + "".join(f"\t{spec}\n" for spec in carried) + ")\n" if carried else ""
    return (
        "// Code generated by tests/localcluster/trim.py for the test cluster. DO NOT EDIT.\n\n"
        f"package {package}\n\nimport (\n{lines})\n\n{declared}\n"
        "func notBuilt(name string) error {\n"
        "\treturn fmt.Errorf(\"%s: this trigger type is not built into the test cluster's "
        'KEDA (tests/localcluster/trim.py)", name)\n}\n\n' + "\n".join(stubs)
    )


def removed_files(package_dir: Path, keep: Sequence[str]) -> list[str]:
    """The Go files of ``package_dir`` the build leaves out: all but ``keep`` and the tests."""
    return sorted(
        p.name
        for p in package_dir.glob("*.go")
        if p.name not in keep and not p.name.endswith("_test.go")
    )


def _package_name(text: str) -> str:
    match = re.search(r"^package (\w+)", text, re.MULTILINE)
    if match is None:
        raise ValueError("no package clause")
    return match.group(1)


_BLANK_IMPORT = re.compile(r'^\s*_ "([^"]+)"\s*$')


def keep_imports(text: str, keep: Sequence[str]) -> str:
    """``text`` without the blank imports whose last path element is not in ``keep``.

    Every name of ``keep`` must be imported: a plug-in renamed upstream must fail here, not
    at the cluster's start.
    """
    kept: set[str] = set()
    lines = []
    for line in text.splitlines(keepends=True):
        match = _BLANK_IMPORT.match(line)
        if match:
            name = match.group(1).rsplit("/", 1)[-1]
            if name not in keep:
                continue
            kept.add(name)
        lines.append(line)
    missing = sorted(set(keep) - kept)
    if missing:
        raise ValueError(f"no blank import of {missing}")
    return "".join(lines)


def prepare(trim: Trim, source: Path, wrapper: Path, out: Path) -> None:
    """Write into ``out`` the wrapper module (``wrapper``'s go.mod and go.sum, plus a
    ``replace`` of ``trim.module`` by ``./src``) and in ``src`` the trimmed copy of
    ``source``, the module cache's tree of ``trim.module``."""
    edit, src = trim.edit, out / "src"
    if isinstance(edit, StubOut):
        package_dir = source / edit.package
        missing = [name for name in edit.keep if not (package_dir / name).exists()]
        if missing:
            raise ValueError(f"{trim.module}/{edit.package} has no {missing}")
        removed = removed_files(package_dir, edit.keep)
        texts = {name: (package_dir / name).read_text(encoding="utf-8") for name in removed}
        kept = {name: (package_dir / name).read_text(encoding="utf-8") for name in edit.keep}
        package = _package_name(kept[edit.keep[0]])
        target, text = src / edit.package / STUB_FILE, stub_source(package, texts, kept, edit)
    else:
        package_dir, removed = source, []
        text = keep_imports((source / edit.file).read_text(encoding="utf-8"), edit.keep)
        target = src / edit.file

    def leave_out(directory: str, names: list[str]) -> list[str]:
        return removed if Path(directory) == package_dir else []

    shutil.copytree(source, src, ignore=leave_out)
    # The module cache's files and directories are read-only; the copy's must take the edit.
    for directory, _, _ in os.walk(src):
        os.chmod(directory, 0o700)
    target.unlink(missing_ok=True)
    target.write_text(text, encoding="utf-8")
    go_mod = (wrapper / "go.mod").read_text(encoding="utf-8")
    (out / "go.mod").write_text(f"{go_mod}\nreplace {trim.module} => ./src\n", encoding="utf-8")
    shutil.copy(wrapper / "go.sum", out / "go.sum")
