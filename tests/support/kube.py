"""Helpers for the kind end-to-end tests: settings, kubectl/helm runs, waits, port-forwards.

They live here, not in tests/e2e, so that tests/unit/e2e_support can exercise them on this
machine (no Docker engine, no cluster): parsing is checked on hand-written kubectl output,
waiting on real predicates, and the port-forward manager on its command and process handling.

Everything the e2e tests send goes through ``kubectl port-forward`` bound to 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import yaml

from tests.support.processes import LOOPBACK, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
KIND_CONFIG = REPO_ROOT / "kind-config.yaml"
CHART_DIR = REPO_ROOT / "charts" / "redis-queue"
RUN_E2E = "run `make e2e`"

T = TypeVar("T")


class CommandError(RuntimeError):
    """A command exited non-zero (or could not start); carries what it printed."""

    def __init__(self, cmd: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip().splitlines()
        last = detail[-1] if detail else "no output"
        super().__init__(f"`{' '.join(self.cmd)}` exited {returncode}: {last}")

    @property
    def not_found(self) -> bool:
        """The API server answered NotFound: the object does not exist.

        Only the API's own answer counts; a missing kubectl (exit 127, "kubectl: not found")
        or kubectl's other "not found" errors must not make a "gone" check pass.
        """
        return self.returncode != 127 and "Error from server (NotFound)" in self.stderr


def run(
    cmd: Sequence[str], *, timeout: float = 120.0, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with a deadline; raise CommandError unless it exits 0."""
    try:
        done = subprocess.run(
            list(cmd),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandError(cmd, 127, "", f"{cmd[0]}: not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandError(cmd, -1, "", f"timed out after {timeout}s") from exc
    if done.returncode != 0:
        raise CommandError(cmd, done.returncode, done.stdout, done.stderr)
    return done


# --------------------------------------------------------------------------- kind config


@dataclass(frozen=True)
class KindNode:
    role: str
    image: str


@dataclass(frozen=True)
class KindConfig:
    """The fields of kind-config.yaml that scripts/e2e.sh and the tests rely on."""

    name: str
    nodes: tuple[KindNode, ...]

    @property
    def node_image(self) -> str:
        images = {node.image for node in self.nodes}
        if len(images) != 1:
            raise ValueError(f"nodes use different images: {sorted(images)}")
        return images.pop()

    def roles(self) -> list[str]:
        return [node.role for node in self.nodes]


def load_kind_config(path: Path = KIND_CONFIG) -> KindConfig:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    if data.get("kind") != "Cluster" or data.get("apiVersion") != "kind.x-k8s.io/v1alpha4":
        raise ValueError(f"{path}: expected kind Cluster, apiVersion kind.x-k8s.io/v1alpha4")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}: `name` (the default cluster name) is required")
    nodes = tuple(
        KindNode(role=str(node.get("role", "")), image=str(node.get("image", "")))
        for node in data.get("nodes") or []
    )
    return KindConfig(name=name, nodes=nodes)


# --------------------------------------------------------------------------- settings


# Fixed by the e2e values and manifests (tests/e2e/values, tests/e2e/manifests) and the chart.
PROMETHEUS_SERVICE = "prometheus-operated"  # kube-prometheus-stack's Service of its Prometheus
WORKER = "queue-worker"  # the stand-in worker Deployment, the scale target
QUEUE = "enhancement:queue"  # the chart's first queue, the one the autoscaling signal reads
APPENDFSYNC_KEY = "redisQueue.persistence.appendfsync"  # chart value test_05 upgrades


@dataclass(frozen=True)
class E2ESettings:
    """Where the e2e stack lives; scripts/e2e.sh exports the same variables."""

    cluster: str
    namespace: str = "redis-queue-e2e"
    release: str = "redis-queue"
    monitoring_namespace: str = "monitoring"
    kubectl: str = "kubectl"
    helm: str = "helm"
    ready_timeout: float = 300.0
    scale_up_timeout: float = 420.0
    scale_down_timeout: float = 900.0
    required: bool = False
    # "kind" (docker + kind) or "local" (tests/localcluster: the e2e run sets E2E_BACKEND).
    backend: str = "kind"
    context_override: str = ""
    # Where test_05 upgrades from: the chart directory, or the oci:// reference installed.
    chart: str = str(CHART_DIR)
    chart_version: str = ""

    @property
    def chart_flags(self) -> list[str]:
        """What helm needs besides the reference: a version and plain HTTP for oci://."""
        if not self.chart.startswith("oci://"):
            return []
        flags = ["--plain-http"] if self.backend == "local" else []
        return [*flags, "--version", self.chart_version] if self.chart_version else flags

    @property
    def context(self) -> str:
        return self.context_override or f"kind-{self.cluster}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], kind_config: KindConfig) -> E2ESettings:
        """Unset or empty variables keep the field's default."""
        texts = {
            "namespace": "E2E_NAMESPACE",
            "release": "E2E_RELEASE",
            "monitoring_namespace": "MONITORING_NAMESPACE",
        }
        numbers = {
            "ready_timeout": "E2E_READY_TIMEOUT",
            "scale_up_timeout": "E2E_SCALE_UP_TIMEOUT",
            "scale_down_timeout": "E2E_SCALE_DOWN_TIMEOUT",
        }
        texts.update(
            backend="E2E_BACKEND",
            context_override="E2E_CONTEXT",
            chart="E2E_CHART",
            chart_version="E2E_CHART_VERSION",
        )
        given: dict[str, Any] = {name: env[var] for name, var in texts.items() if env.get(var)}
        given.update({name: float(env[var]) for name, var in numbers.items() if env.get(var)})
        return cls(
            cluster=env.get("KIND_CLUSTER") or kind_config.name,
            kubectl=env.get("KUBECTL") or tool("kubectl"),
            helm=env.get("HELM") or tool("helm"),
            required=env.get("E2E_REQUIRED", "") not in ("", "0", "false"),
            **given,
        )


def environment_problem(settings: E2ESettings, *, timeout: float = 20.0) -> str | None:
    """Why the e2e tests cannot run here, or None when docker, kind and the stack are there.

    Checked in the order a person would fix them: docker CLI, docker daemon, kind, the kind
    cluster, the API server behind its context, and the chart's release installed by e2e.sh.
    The local backend (tests/localcluster) has no docker or kind: it starts with kubectl.
    """
    if settings.backend == "local":
        from tests.localcluster.cluster import refusal

        return refusal() or _cluster_problem(settings, timeout)
    if shutil.which("docker") is None:
        return "docker CLI not found on PATH"
    try:
        run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=timeout)
    except CommandError as exc:
        return f"docker daemon not reachable ({_last_line(exc)})"
    if shutil.which("kind") is None:
        return "kind not found on PATH"
    try:
        clusters = run(["kind", "get", "clusters"], timeout=timeout).stdout.split()
    except CommandError as exc:
        return f"`kind get clusters` failed ({_last_line(exc)})"
    if settings.cluster not in clusters:
        return f"kind cluster {settings.cluster!r} does not exist"
    return _cluster_problem(settings, timeout)


def _cluster_problem(settings: E2ESettings, timeout: float) -> str | None:
    for tool in (settings.kubectl, settings.helm):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH"
    try:
        run(
            [settings.kubectl, "--context", settings.context, "get", "--raw", "/readyz"],
            timeout=timeout,
        )
    except CommandError as exc:
        return f"cluster context {settings.context!r} not reachable ({_last_line(exc)})"
    try:
        run(
            [
                settings.helm,
                "--kube-context",
                settings.context,
                "status",
                settings.release,
                "--namespace",
                settings.namespace,
            ],
            timeout=timeout,
        )
    except CommandError as exc:
        return (
            f"helm release {settings.release!r} not installed in namespace "
            f"{settings.namespace!r} ({_last_line(exc)})"
        )
    return None


def skip_message(problem: str) -> str:
    """The reason shown by ``pytest -rs``: what is missing and the command that sets it up."""
    return (
        f"e2e needs a cluster with the stack installed: {problem}; {RUN_E2E} "
        "(brings up the local cluster or kind, builds the images, installs the chart, runs "
        "these tests)"
    )


def _last_line(exc: CommandError) -> str:
    lines = (exc.stderr or exc.stdout).strip().splitlines()
    return lines[-1].strip() if lines else f"exit {exc.returncode}"


# --------------------------------------------------------------------------- waiting


def wait_for(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 1.0,
    retry_on: tuple[type[BaseException], ...] = (CommandError, OSError),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll ``probe`` until it returns something truthy and return that; bounded by ``timeout``.

    Exceptions listed in ``retry_on`` count as "not yet" (an API server restarting, a
    port-forward whose pod just went away); the last one seen, or the last value, is quoted in
    the TimeoutError so a failing e2e run says what it was waiting on and what it saw instead.
    """
    deadline = clock() + timeout
    attempts = 0
    last: str = "no attempt finished"
    while True:
        attempts += 1
        try:
            value = probe()
        except retry_on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if value:
                return value
            last = f"last value {value!r}"
        remaining = deadline - clock()
        if remaining <= 0:
            raise TimeoutError(
                f"timed out after {timeout:g}s ({attempts} attempts) waiting for {what}; {last}"
            )
        sleep(min(interval, remaining))


# --------------------------------------------------------------------------- kubectl


@dataclass(frozen=True)
class Kubectl:
    """kubectl pinned to one context and a default namespace."""

    context: str
    namespace: str
    binary: str = "kubectl"

    def command(self, *args: str, namespace: str | None = None) -> list[str]:
        ns = self.namespace if namespace is None else namespace
        cmd = [self.binary, "--context", self.context]
        if ns:
            cmd += ["--namespace", ns]
        return [*cmd, *args]

    def run(self, *args: str, namespace: str | None = None, timeout: float = 120.0) -> str:
        return run(self.command(*args, namespace=namespace), timeout=timeout).stdout

    def apply(self, manifest: Mapping[str, Any], namespace: str | None = None) -> str:
        cmd = self.command("apply", "-f", "-", namespace=namespace)
        return run(cmd, input_text=json.dumps(manifest)).stdout

    def json(self, *args: str, namespace: str | None = None) -> Any:
        return json.loads(self.run(*args, "-o", "json", namespace=namespace))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None when the API server answers NotFound."""
        try:
            obj = self.json("get", kind, name, namespace=namespace)
        except CommandError as exc:
            if exc.not_found:
                return None
            raise
        return obj if isinstance(obj, dict) else None

    def items(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return list(self.json("get", kind, namespace=namespace).get("items", []))

    def port_forward(
        self, target: str, remote_port: int, namespace: str | None = None
    ) -> PortForward:
        return PortForward(
            kubectl=self, target=target, remote_port=remote_port, namespace=namespace
        )


# --------------------------------------------------------------------------- kubectl output


def parse_table(text: str) -> list[dict[str, str]]:
    """Rows of ``kubectl get`` default (table) output, keyed by header.

    kubectl aligns columns with a tabwriter, so a column starts where its header starts;
    slicing at those offsets keeps cells with single spaces ("3 (2m ago)", "<none>") whole.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    rows = []
    for line in lines[1:]:
        cells = [
            line[s:e].strip() if s < len(line) else ""
            for s, e in zip(starts, [*starts[1:], None], strict=True)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


_SEGMENT = re.compile(
    r"""\.(?P<key>[A-Za-z_][\w-]*)
      | \[(?P<index>-?\d+)\]
      | \[\?\(@\.(?P<fkey>[\w.-]+)\s*==\s*(?P<q>["'])(?P<fval>.*?)(?P=q)\)\]""",
    re.VERBOSE,
)


def jsonpath(obj: Any, path: str) -> Any:
    """The value at a CRD printer-column style JSONPath, or None where it does not exist.

    Covers what additionalPrinterColumns use: ``.a.b``, ``.a[0]``, and the filter
    ``.conditions[?(@.type=="Ready")].status`` (first match).
    """
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    pos = 0
    current = obj
    while pos < len(path):
        match = _SEGMENT.match(path, pos)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r} at {path[pos:]!r}")
        pos = match.end()
        if current is None:
            continue
        if match.group("key") is not None:
            current = current.get(match.group("key")) if isinstance(current, dict) else None
        elif match.group("index") is not None:
            index = int(match.group("index"))
            ok = isinstance(current, list) and -len(current) <= index < len(current)
            current = current[index] if ok else None
        else:
            fkey, fval = match.group("fkey"), match.group("fval")
            found = None
            for item in current if isinstance(current, list) else []:
                if str(jsonpath(item, "." + fkey)) == fval:
                    found = item
                    break
            current = found
    return current


def cell_text(value: Any) -> str:
    """How kubectl prints a printer-column value in the table."""
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    type: str
    json_path: str
    priority: int = 0

    @property
    def header(self) -> str:
        """kubectl prints column names upper-cased."""
        return self.name.upper()


def printer_columns(crd: Mapping[str, Any], version: str | None = None) -> list[PrinterColumn]:
    """additionalPrinterColumns of the served storage version (or ``version``) of a CRD."""
    versions = crd.get("spec", {}).get("versions", [])
    chosen = None
    for entry in versions:
        if (version is None and entry.get("storage")) or entry.get("name") == version:
            chosen = entry
            break
    if chosen is None:
        raise ValueError(f"CRD has no version {version or '(storage)'}")
    return [
        PrinterColumn(
            name=col["name"],
            type=col.get("type", "string"),
            json_path=col["jsonPath"],
            priority=int(col.get("priority", 0)),
        )
        for col in chosen.get("additionalPrinterColumns", [])
    ]


def condition(obj: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def condition_true(obj: Mapping[str, Any] | None, kind: str) -> bool:
    cond = condition(obj, kind) if obj else None
    return bool(cond and cond.get("status") == "True")


def secret_value(secret: Mapping[str, Any], key: str) -> str:
    data = secret.get("data", {}) or {}
    if key not in data:
        raise KeyError(f"secret has no key {key!r} (keys: {sorted(data)})")
    return base64.b64decode(data[key]).decode("utf-8")


_SERVER_FIELDS = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


# Annotations the operator's Kopf keeps its state in (GROUP as prefix, Kopf's own as well):
# a re-created object that still carried `last-handled-configuration` would look already
# handled, and Kopf would not run the create handler for it.
_OPERATOR_ANNOTATION_PREFIXES = ("queues.ai-agents.io/", "kopf.zalando.org/")


def reapplyable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a live object that can be created again: no status, no server-set metadata.

    Labels and other annotations stay, so a Helm-owned object recreated by hand is still
    adopted by the next ``helm upgrade``; the operator's (Kopf's) state annotations go, so the
    operator handles it as the new object it is.
    """
    copy = json.loads(json.dumps(obj))
    copy.pop("status", None)
    meta = copy.get("metadata", {})
    for key in (*_SERVER_FIELDS, "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers"):
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    for key in [k for k in annotations if k.startswith(_OPERATOR_ANNOTATION_PREFIXES)]:
        del annotations[key]
    return dict(copy)


# --------------------------------------------------------------------------- Prometheus


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of one metric in Prometheus text exposition format."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                samples.append((dict(sample.labels), float(sample.value)))
    return samples


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the one sample of ``name`` whose labels include ``labels``, else None."""
    for sample_labels, value in metric_samples(text, name):
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def prometheus_vector(payload: Mapping[str, Any]) -> list[tuple[dict[str, str], float]]:
    """(labels, value) pairs of an instant-vector answer of Prometheus' /api/v1/query."""
    if payload.get("status") != "success":
        raise ValueError(f"Prometheus query failed: {payload.get('error', payload)}")
    data = payload.get("data", {})
    if data.get("resultType") != "vector":
        raise ValueError(f"expected a vector, got {data.get('resultType')!r}")
    return [(dict(item["metric"]), float(item["value"][1])) for item in data.get("result", [])]


def http_get(url: str, *, params: Mapping[str, str] | None = None, timeout: float = 10.0) -> str:
    """GET a loopback URL (the port-forwards) and return the body as text."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.hostname != LOOPBACK or parsed.scheme != "http":
        raise ValueError(f"e2e helpers only talk to http://{LOOPBACK}, not {url}")
    if params:
        url = f"{url}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback http)
        return str(response.read().decode("utf-8"))


# --------------------------------------------------------------------------- jobs


def make_jobs(count: int, *, prefix: str, tenant: str = "e2e") -> list[str]:
    """``count`` queue jobs in the documented job format, JSON-encoded, numbered in push order."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return [
        json.dumps(
            {
                "job_id": f"{prefix}-{i:05d}",
                "tenant_id": tenant,
                "ticket_id": f"TICKET-{i}",
                "description": f"e2e job {i} of {count}",
                "priority": "normal",
                "timestamp": now,
            },
            sort_keys=True,
        )
        for i in range(count)
    ]


# --------------------------------------------------------------------------- port-forward


@dataclass
class PortForward:
    """``kubectl port-forward`` to 127.0.0.1 as a context manager.

    Entering starts kubectl and waits (bounded) for its "Forwarding from 127.0.0.1:PORT"
    line; if kubectl exits first, what it printed is raised. Leaving stops it (TERM, then
    KILL). A forward dies with its pod, so tests open a new one after restarting Redis.
    """

    kubectl: Kubectl
    target: str
    remote_port: int
    local_port: int = 0
    namespace: str | None = None
    ready_timeout: float = 30.0
    process: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    output: list[str] = field(default_factory=list, init=False, repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def command(self) -> list[str]:
        port = self.local_port or 0
        return self.kubectl.command(
            "port-forward",
            "--address",
            LOOPBACK,
            self.target,
            f"{port}:{self.remote_port}",
            namespace=self.namespace,
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.local_port}"

    def __enter__(self) -> PortForward:
        if not self.local_port:
            self.local_port = free_port()
        self.output.clear()
        self._ready.clear()
        self.process = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None:
                self._ready.wait(0.2)  # let the reader drain the last lines
                self.stop()
                raise CommandError(
                    self.command(), self.process.returncode, "", "\n".join(self.output)
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"port-forward {self.target} not ready after {self.ready_timeout:g}s: "
                    + " | ".join(self.output[-5:])
                )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        marker = f"Forwarding from {LOOPBACK}:{self.local_port} "
        for line in proc.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith(marker):
                self._ready.set()


def tool(name: str) -> str:
    """The project's own copy of a tool (.tools/bin) when present, else the one on PATH."""
    local = REPO_ROOT / ".tools" / "bin" / name
    return str(local) if local.exists() and os.access(local, os.X_OK) else name
