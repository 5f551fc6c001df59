"""How the local cluster's builds are run: one ``go build`` per component, one builder per
product at a time. The naming rule ``go build -o dir/`` follows is Go's, so it is checked
with a real build of a two-command module, not assumed (Go is on PATH wherever `make lint`
passes: it builds actionlint)."""

from __future__ import annotations

import fcntl
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from tests.localcluster.build import (
    Component,
    binary_dir,
    binary_tree,
    built_once,
    fetch_modules,
    go_build_command,
    go_env,
    is_built,
    load_components,
    registry_seed_key,
)

COMPONENTS = {c.name: c for c in load_components()}


def test_a_component_of_several_commands_is_one_go_build_into_a_directory() -> None:
    keda = COMPONENTS["keda"]
    command, renames = go_build_command(keda, Path("/out"))
    assert command[:4] == ["go", "build", "-o", "/out/"]
    assert command[-len(keda.packages) :] == list(keda.packages)
    assert command[command.index("-ldflags") + 1] == keda.ldflags
    # Both upstream commands are called after their directory; the cluster's names differ.
    assert renames == {"operator": "keda-operator", "adapter": "keda-adapter"}


def test_commands_already_named_as_the_cluster_wants_are_not_renamed() -> None:
    kubernetes = COMPONENTS["kubernetes"]
    command, renames = go_build_command(kubernetes, Path("/out"))
    assert renames == {}
    assert set(kubernetes.packages) <= set(command)


def test_a_single_command_is_built_to_its_file_with_the_components_tags() -> None:
    prometheus = COMPONENTS["prometheus"]
    command, renames = go_build_command(prometheus, Path("/out"))
    assert command[:4] == ["go", "build", "-o", "/out/prometheus"]
    assert command[command.index("-tags") + 1] == prometheus.tags
    assert renames == {}


def test_two_commands_of_the_same_last_element_are_refused() -> None:
    clash = replace(COMPONENTS["keda"], packages=("a/cmd/operator", "b/cmd/operator"))
    with pytest.raises(ValueError, match="same element"):
        go_build_command(clash, Path("/out"))


def two_commands(module: Path) -> Component:
    """A module of two commands (the second imports a library package of the first), in
    ``module``, as a component."""
    for name in ("first", "second"):
        (module / "cmd" / name).mkdir(parents=True)
    (module / "lib").mkdir()
    (module / "lib" / "lib.go").write_text('package lib\n\nconst Name = "lib"\n')
    (module / "cmd" / "first" / "main.go").write_text("package main\n\nfunc main() {}\n")
    (module / "cmd" / "second" / "main.go").write_text(
        'package main\n\nimport "example.test/two/lib"\n\nfunc main() { println(lib.Name) }\n'
    )
    (module / "go.mod").write_text("module example.test/two\n\ngo 1.21\n")
    return Component(
        name="two",
        version="v0",
        packages=("example.test/two/cmd/first", "example.test/two/cmd/second"),
        binaries=("two-first", "second"),
        ldflags="-s -w",
    )


def test_go_writes_each_command_where_the_renames_expect_it(tmp_path: Path) -> None:
    module = tmp_path / "mod"
    component = two_commands(module)
    out = tmp_path / "bin"
    out.mkdir()
    command, renames = go_build_command(component, out)
    env = go_env(tmp_path / "cache")
    env["GOFLAGS"] = "-buildvcs=false"
    subprocess.run(command, cwd=module, env=env, check=True, capture_output=True)
    for built, binary in renames.items():
        (out / built).rename(out / binary)
    assert sorted(p.name for p in out.iterdir()) == ["second", "two-first"]


def test_a_product_being_built_is_locked_against_a_second_builder(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "kubernetes-abc.lock"

    def fill(partial: Path) -> None:
        # flock locks belong to an open file: a second open conflicts, even in one process.
        with lock.open("w") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        partial.mkdir()

    built_once(tmp_path, tmp_path / "kubernetes-abc", fill)
    with lock.open("w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the build is done


def test_fetching_a_components_modules_walks_its_imports_and_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "mod"
    component = two_commands(module)
    monkeypatch.setattr(Component, "module_dir", property(lambda _: module))
    cache = tmp_path / "cache"
    fetch_modules(component, cache)
    listed = (cache / "logs" / "go-two-modules.log").read_text().splitlines()
    # The log holds the command, then every package of the import graph: the library the
    # second command imports is there, so its module would have been fetched.
    assert "example.test/two/lib" in listed
    assert "example.test/two/cmd/second" in listed
    assert not is_built(component, cache)
    assert not binary_dir(component, cache).exists()


def test_a_component_counts_as_built_once_its_directory_is_stamped(tmp_path: Path) -> None:
    component = COMPONENTS["etcd"]
    assert not is_built(component, tmp_path)
    built_once(tmp_path, binary_dir(component, tmp_path), lambda partial: partial.mkdir())
    assert is_built(component, tmp_path)


def test_a_registry_seed_is_keyed_by_exactly_its_images() -> None:
    images = {"rqs.test/redis:7.0": "sha256:aa", "rqs.test/pause:3.10": "sha256:bb"}
    key = registry_seed_key(images)
    assert registry_seed_key(dict(reversed(images.items()))) == key  # order does not matter
    assert registry_seed_key({**images, "rqs.test/pause:3.10": "sha256:cc"}) != key  # rebuilt
    assert registry_seed_key({"rqs.test/redis:7.0": "sha256:aa"}) != key  # one image fewer
    assert registry_seed_key({**images, "rqs.test/x:1": "sha256:dd"}) != key  # one more


def test_a_binarys_tree_never_holds_an_interrupted_copy(tmp_path: Path) -> None:
    """The e2e run's two `late` processes may make one tree at once: a copy is renamed into
    place only when whole, so neither can take a half-copied binary for the tree."""
    binary = tmp_path / "bin" / "keda-0123" / "keda-operator"
    binary.parent.mkdir(parents=True)
    binary.write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    tree = tmp_path / "trees" / "keda-operator-keda-0123"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / ".keda-operator.partial").write_bytes(b"\x7fELF")  # a copy cut short
    assert binary_tree(binary, tmp_path) == tree
    assert (tree / "bin" / "keda-operator").read_bytes() == binary.read_bytes()
    assert [p.name for p in (tree / "bin").iterdir()] == ["keda-operator"]  # no leftover
