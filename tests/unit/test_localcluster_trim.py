"""Trimmed components (tests/localcluster/trim.py): the stubs keep upstream's callers compiling,
a removed plug-in answers an error naming itself, and what the cluster uses is kept. Checked
with a real ``go build`` of a small upstream-like module (Go is on PATH wherever `make lint`
passes), as KEDA is built."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.localcluster.build import binary_dir, go_env, load_components, trimmed_dir
from tests.localcluster.layout import REPO_ROOT
from tests.localcluster.render import Plan, corefile
from tests.localcluster.trim import (
    STUB_FILE,
    KeepImports,
    StubOut,
    Trim,
    keep_imports,
    prepare,
    removed_files,
    stub_source,
)

STUBS = StubOut(
    package="plugins",
    keep=("plugin.go", "kept.go"),
    interface="Plugin",
)
TRIM = Trim(module="example.test/up", edit=STUBS)
COMPONENTS = {c.name: c for c in load_components()}

INTERFACE = """package plugins

type Plugin interface{ Value() int }
"""
KEPT = """package plugins

type kept struct{}

func (kept) Value() int { return shared + level }

func NewKept() (Plugin, error) { return kept{}, nil }
"""
# Removed: one constructor with an imported parameter type and a type of its own file as its
# result, one with plain parameters; and the constants, one the kept file needs.
HEAVY = """package plugins

import (
	"context"
	tm "time"
)

const shared = 2

const (
	unused = "x"
	level int = 3 // a typed one
)

type Heavy struct{}

func (*Heavy) Value() int { return 0 }

func NewHeavy(ctx context.Context, every tm.Duration, name string) (*Heavy, error) {
	return &Heavy{}, nil
}
"""
OTHER = """package plugins

func NewOther(flag, other bool) (Plugin, error) {
	return nil, nil
}
"""
CALLER = """package main

import (
	"context"
	"fmt"

	"example.test/up/plugins"
)

func main() {
	kept, _ := plugins.NewKept()
	fmt.Println(kept.Value())
	_, err := plugins.NewHeavy(context.Background(), 0, "x")
	fmt.Println(err)
	_, err = plugins.NewOther(true, false)
	fmt.Println(err)
}
"""


def upstream(root: Path) -> Path:
    """An upstream module whose ``plugins`` package is to be trimmed, and a command using it."""
    files = {
        "go.mod": "module example.test/up\n\ngo 1.21\n",
        "plugins/plugin.go": INTERFACE,
        "plugins/kept.go": KEPT,
        "plugins/heavy.go": HEAVY,
        "plugins/other.go": OTHER,
        "plugins/heavy_test.go": "package plugins\n",
        "cmd/run/main.go": CALLER,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_only_the_files_not_kept_and_not_tests_are_removed(tmp_path: Path) -> None:
    source = upstream(tmp_path / "up")
    assert removed_files(source / "plugins", STUBS.keep) == ["heavy.go", "other.go"]


def test_a_stub_keeps_the_parameters_and_returns_the_interface_for_a_removed_type() -> None:
    text = stub_source("plugins", {"heavy.go": HEAVY, "other.go": OTHER}, {"kept.go": KEPT}, STUBS)
    assert "func NewHeavy(ctx context.Context, every tm.Duration, name string) (Plugin, error)" in (
        text
    )
    assert "func NewOther(flag, other bool) (Plugin, error)" in text
    assert '\ttm "time"\n' in text
    assert '\t"context"\n' in text
    # The constants the kept file uses come along; the one nothing kept uses does not.
    assert "const (\n\tlevel int = 3 // a typed one\n\tshared = 2\n)\n" in text
    assert "unused" not in text
    assert text.startswith("// Code generated")


def test_a_parameter_type_from_no_import_is_refused() -> None:
    broken = "package plugins\n\nfunc NewX(d tm.Duration) (Plugin, error) {\n"
    with pytest.raises(ValueError, match="NewX uses 'tm'"):
        stub_source("plugins", {"x.go": broken}, {}, STUBS)


def test_the_trimmed_module_builds_and_a_removed_plugin_says_it_was_not_built(
    tmp_path: Path,
) -> None:
    source = upstream(tmp_path / "up")
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text(
        "module example.test/wrapper\n\ngo 1.21\n\nrequire example.test/up v0.0.0\n"
    )
    (wrapper / "go.sum").write_text("")
    out = tmp_path / "out"
    out.mkdir()
    prepare(TRIM, source, wrapper, out)
    assert not (out / "src" / "plugins" / "heavy.go").exists()
    assert (out / "src" / "plugins" / STUB_FILE).exists()
    assert (out / "src" / "plugins" / "heavy_test.go").exists()
    env = go_env(tmp_path / "cache")
    env["GOPROXY"] = "off"  # the copy is all it needs
    binary = tmp_path / "run"
    subprocess.run(
        ["go", "build", "-o", str(binary), "example.test/up/cmd/run"],
        cwd=out,
        env=env,
        check=True,
        capture_output=True,
    )
    lines = subprocess.run([binary], check=True, capture_output=True, text=True).stdout
    kept, heavy, other = lines.splitlines()
    assert kept == "5"  # the kept file, with the constants carried over for it
    assert heavy.startswith("NewHeavy: this trigger type is not built")
    assert other.startswith("NewOther: ")


def test_a_kept_file_that_upstream_lacks_is_refused(tmp_path: Path) -> None:
    source = upstream(tmp_path / "up")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=re.escape("no ['gone.go']")):
        prepare(
            Trim("example.test/up", StubOut("plugins", ("gone.go",), "Plugin")), source, source, out
        )


REGISTRY = """package plugin

import (
	// Include all plugins.
	_ "example.test/up/plugin/cache"
	_ "example.test/up/plugin/cloud"
	_ "example.test/up/plugin/kubernetes"
)
"""


def test_a_registry_keeps_only_the_blank_imports_named() -> None:
    text = keep_imports(REGISTRY, ("cache", "kubernetes"))
    assert '_ "example.test/up/plugin/cloud"' not in text
    assert '_ "example.test/up/plugin/cache"' in text
    assert '_ "example.test/up/plugin/kubernetes"' in text
    assert text.startswith("package plugin\n\nimport (\n\t// Include all plugins.\n")


def test_a_plugin_to_keep_that_upstream_does_not_import_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("no blank import of ['gone']")):
        keep_imports(REGISTRY, ("cache", "gone"))


def test_keda_keeps_the_triggers_the_chart_renders() -> None:
    keda = COMPONENTS["keda"]
    assert keda.trim is not None
    assert isinstance(keda.trim.edit, StubOut)
    template = (REPO_ROOT / "charts" / "redis-queue" / "templates" / "keda.yaml").read_text()
    triggers = set(re.findall(r"^\s*- type: (\w+)$", template, re.MULTILINE))
    assert triggers == {"prometheus", "redis"}
    assert {f"{name}_scaler.go" for name in triggers} <= set(keda.trim.edit.keep)


def test_coredns_keeps_the_plugins_of_the_clusters_corefile() -> None:
    coredns = COMPONENTS["coredns"]
    assert coredns.trim is not None
    assert isinstance(coredns.trim.edit, KeepImports)
    text = corefile(Plan(run_dir=Path("/run/x")), Path("/k"))
    # A directive is the first word of a line indented once inside the server block.
    directives = {line.split()[0] for line in text.splitlines() if re.match(r"^ {4}\w", line)}
    assert directives == {"bind", "errors", "health", "ready", "kubernetes", "cache"}
    assert directives <= set(coredns.trim.edit.keep)


def test_a_trimmed_components_key_says_it_is_trimmed() -> None:
    for name in ("keda", "coredns"):
        component = COMPONENTS[name]
        assert replace(component, trim=None).key() != component.key()


def test_a_trimmed_source_is_locked_apart_from_the_binaries_built_from_it() -> None:
    # Both are products made under a lock named after their directory, one inside the other.
    keda, cache = COMPONENTS["keda"], Path("/cache")
    assert trimmed_dir(keda, cache).name != binary_dir(keda, cache).name
