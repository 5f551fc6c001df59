"""Run the real helm binaries (3.x and 4.x) on the chart and parse what they print.

Both majors are tested because users have both: Helm 4 changed the values-schema validator
(different error wording) and the rendering pipeline, so a chart that works with one may not
with the other. The binaries come from `make setup` (scripts/install-helm.sh) into .tools/bin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "redis-queue"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
TOOLS = ROOT / ".tools" / "bin"
HELM_MAJORS = ("helm3", "helm4")
RELEASE = "rq"
NAMESPACE = "queues"

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """helm exited non-zero; the message carries its stderr (schema errors, fail messages)."""

    def __init__(self, command: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"{' '.join(command)} exited {returncode}:\n{stderr}{stdout}")
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


@dataclass(frozen=True)
class Helm:
    """One helm binary; ``major`` is 3 or 4."""

    binary: Path

    @classmethod
    def named(cls, name: str) -> Helm:
        binary = TOOLS / name
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing: run `make setup`")
        return cls(binary)

    @property
    def major(self) -> int:
        return int(self.version().lstrip("v").split(".")[0])

    def version(self) -> str:
        return self._run(["version", "--template", "{{ .Version }}"]).strip()

    def _run(self, args: Sequence[str]) -> str:
        command = [str(self.binary), *args]
        # An isolated helm home: no user repositories, plugins or cache leak into the tests.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HELM_")}
        home = ROOT / ".run" / "helm-home"
        env.update(
            HELM_CACHE_HOME=str(home / "cache"),
            HELM_CONFIG_HOME=str(home / "config"),
            HELM_DATA_HOME=str(home / "data"),
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        if result.returncode != 0:
            raise HelmError(command, result.returncode, result.stdout, result.stderr)
        return result.stdout

    def lint(self, values_files: Sequence[Path] = (), strict: bool = True) -> str:
        args = ["lint", str(CHART)]
        if strict:
            args.append("--strict")
        for path in values_files:
            args += ["-f", str(path)]
        return self._run(args)

    def template(
        self,
        values_files: Sequence[Path] = (),
        values: Mapping[str, Any] | None = None,
        include_crds: bool = False,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        work_dir: Path | None = None,
        chart: Path = CHART,
    ) -> list[Manifest]:
        """Render the chart and return every object (hooks included), in output order."""
        args = ["template", release, str(chart), "--namespace", namespace]
        if include_crds:
            args.append("--include-crds")
        for path in values_files:
            args += ["-f", str(path)]
        if values:
            target = (work_dir or ROOT / ".run") / f"values-{os.getpid()}-{id(values)}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(dict(values)))
            args += ["-f", str(target)]
        return parse_manifests(self._run(args))

    def show_crds(self, chart: Path = CHART) -> str:
        """`helm show crds`: what a user pipes to `kubectl apply` before `helm upgrade`."""
        return self._run(["show", "crds", str(chart)])

    def notes(
        self,
        work_dir: Path,
        values: Mapping[str, Any] | None = None,
        release: str = RELEASE,
        namespace: str = NAMESPACE,
    ) -> str:
        """NOTES.txt as `helm install` would print it.

        `helm template` never renders NOTES.txt, and helm 3's `install --dry-run=client` still
        wants a cluster; so a copy of the chart turns NOTES.txt into a named template and renders
        it into a ConfigMap (helm parses every rendered template as YAML).
        """
        chart = work_dir / "notes-chart" / CHART.name
        shutil.rmtree(chart.parent, ignore_errors=True)
        shutil.copytree(CHART, chart)
        templates = chart / "templates"
        text = (templates / "NOTES.txt").read_text()
        (templates / "NOTES.txt").unlink()
        define = '{{- define "test.notes" -}}'
        (templates / "_notes.tpl").write_text(f"{define}{text}{{{{- end -}}}}")
        (templates / "notes.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            'data:\n  notes: {{ include "test.notes" . | quote }}\n'
        )
        args = ["template", release, str(chart), "--namespace", namespace]
        args += ["--show-only", "templates/notes.yaml"]
        if values:
            target = work_dir / "notes-values.yaml"
            target.write_text(yaml.safe_dump(dict(values)))
            args += ["-f", str(target)]
        (config_map,) = parse_manifests(self._run(args))
        return str(config_map["data"]["notes"])


def parse_manifests(text: str) -> list[Manifest]:
    """The YAML documents of a multi-document stream, without the empty ones."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(manifests: Sequence[Manifest], kind: str, name: str | None = None) -> Manifest:
    """The one object of ``kind`` (and ``name``); fails loudly when absent or ambiguous."""
    found = [
        m
        for m in manifests
        if m.get("kind") == kind and (name is None or m["metadata"]["name"] == name)
    ]
    if len(found) != 1:
        names = [f"{m.get('kind')}/{m.get('metadata', {}).get('name')}" for m in manifests]
        raise LookupError(f"expected one {kind} {name or ''}, found {len(found)} in {names}")
    return found[0]


def kinds(manifests: Sequence[Manifest]) -> list[str]:
    return sorted(str(m["kind"]) for m in manifests)


def merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge of values dicts, as helm merges -f files."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def rule_groups(manifests: Sequence[Manifest]) -> list[dict[str, Any]]:
    """Prometheus rule groups from the rendered PrometheusRule (or the rules ConfigMap)."""
    for m in manifests:
        if m["kind"] == "PrometheusRule":
            return list(m["spec"]["groups"])
    for m in manifests:
        if m["kind"] == "ConfigMap" and "redis-queue.rules.yaml" in m.get("data", {}):
            return list(yaml.safe_load(m["data"]["redis-queue.rules.yaml"])["groups"])
    raise LookupError("no PrometheusRule and no rules ConfigMap rendered")


def walk(
    node: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every (path, value) in a nested manifest, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))
