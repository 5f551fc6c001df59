"""Bring the cluster up and tear it down again; teardown works from the run's state file.

``up`` records each thing before it makes it (RunState), so ``down`` undoes exactly what
exists, whether the run finished, failed or was killed. ``down`` ends by comparing the
machine with the snapshot taken before ``up`` and fails when anything differs.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.localcluster import build, hostnet, pki, render
from tests.localcluster.layout import (
    LATE_DONE,
    LATE_FAILED,
    LATE_PID,
    RunState,
    cache_dir,
    new_run_id,
    runs_dir,
)
from tests.localcluster.progress import CommandFailed, say, sh, step
from tests.support.kube import tool

APT_HINT = "scripts/setup.sh cluster installs the Debian packages"
NEEDED_COMMANDS = {
    "containerd": "containerd",
    "runc": "runc",
    "buildah": "buildah",
    "docker-registry": "docker-registry",
    "debootstrap": "debootstrap",
    "iptables": "iptables",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "openssl": "openssl",
    "go": "Go (golang)",
    "curl": "curl",
}


def refusal() -> str | None:
    """Why the cluster cannot run here, naming what is missing; None when it can."""
    if platform.system() != "Linux":
        return f"the local cluster needs Linux (this is {platform.system()})"
    if os.geteuid() != 0:
        return "the local cluster needs root (network namespaces, mounts, containerd)"
    for controller in ("memory", "cpu", "pids"):
        v1 = Path("/sys/fs/cgroup", controller)
        v2 = Path("/sys/fs/cgroup/cgroup.controllers")
        if not v1.is_dir() and not (v2.exists() and controller in v2.read_text()):
            return f"no cgroup controller {controller!r} under /sys/fs/cgroup"
    missing = [f"{cmd} ({pkg})" for cmd, pkg in NEEDED_COMMANDS.items() if not shutil.which(cmd)]
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("/usr/lib/cni/bridge (containernetworking-plugins)")
    if missing:
        return f"missing: {', '.join(missing)}; {APT_HINT}"
    if not shutil.which(tool("kubectl")):
        return "kubectl not found (make tools puts it in .tools/bin)"
    return go_too_old()


MIN_GO = (1, 26)  # prometheus v0.316.0 asks for go 1.26.7 (cluster/go/prometheus/go.mod)


def go_too_old() -> str | None:
    out = sh(["go", "env", "GOVERSION"], check=False).strip()
    match = re.match(r"go(\d+)\.(\d+)", out)
    if not match or (int(match[1]), int(match[2])) < MIN_GO:
        return (
            f"Go >= {MIN_GO[0]}.{MIN_GO[1]} is needed to build cluster/go (found {out or 'none'})"
        )
    return None


@dataclass
class Cluster:
    state: RunState
    plan: render.Plan
    binaries: dict[str, Path]

    @property
    def kubeconfig(self) -> Path:
        return self.plan.path("admin.kubeconfig")

    def inside(self, cmd: Sequence[str]) -> list[str]:
        return [*hostnet.nsenter(self.state.netns), *cmd]

    def kubectl(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        cmd = [tool("kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        return sh(self.inside(cmd), input_text=input_text, check=check, timeout=300)

    # ------------------------------------------------------------------ processes

    def start(self, name: str, cmd: Sequence[str]) -> None:
        log = self.plan.path("logs", f"{name}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                self.inside(cmd),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.state.pids[name] = proc.pid
        self.state.save()

    def wait(self, what: str, probe: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not probe():
            for name, pid in self.state.pids.items():
                if not _alive(pid):
                    tail = self.plan.path("logs", f"{name}.log").read_text(errors="replace")
                    raise RuntimeError(f"{name} exited; last log lines:\n{tail[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what} not ready after {timeout:g}s (logs in {self.plan.path('logs')})"
                )
            time.sleep(0.5)

    def http_ok(self, url: str, token: str = "") -> bool:
        cmd = [
            "curl",
            "-sf",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            "--cacert",
            str(self.plan.path("pki", "ca.crt")),
        ]
        if token:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        return subprocess.run(self.inside([*cmd, url]), check=False).returncode == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[-1][:1] != "Z"


# --------------------------------------------------------------------------- up


def up(cache: Path | None = None) -> Cluster:
    problem = refusal()
    if problem:
        raise SystemExit(f"local cluster: {problem}")
    cache = cache or cache_dir()
    with step("binaries (Go modules under cluster/go) and Debian root filesystems"):
        binaries = build.build_all(cache)
    with step("base images (Debian root filesystems, pause, tools)"):
        # The late components' too where they are built already: the registry's seed then
        # holds them, and late_images finds them pushed (a warm run waits on nothing).
        base_images = build.ensure_cluster_images({**binaries, **build.built_late(cache)}, cache)
    with step("project images from exporter/Dockerfile and operator/Dockerfile"):
        project_images = build.build_project_images(cache)

    run_id = new_run_id()
    run_dir = runs_dir() / run_id
    # Keys and tokens live here: the run directory is root's alone.
    run_dir.mkdir(parents=True, mode=0o700)
    state = RunState(run_id=run_id, run_dir=str(run_dir), netns=f"rqs-{run_id}")
    state.host_snapshot = hostnet.snapshot()
    state.save()
    plan = render.Plan(run_dir=run_dir)
    cluster = Cluster(state=state, plan=plan, binaries=binaries)
    say(f"run {run_id}: directory {run_dir}, network namespace {state.netns}")

    with step(
        f"network namespace {state.netns} (bridge {plan.bridge} {plan.node_ip}/24, no uplink)"
    ):
        hostnet.open_network(state, plan)
    _write_configs(cluster)
    _start_control_plane(cluster)
    _start_registry(cluster, base_images, project_images, cache)
    _start_node(cluster)
    _install_basics(cluster)
    (run_dir / "env").write_text(
        f"export KUBECONFIG={cluster.kubeconfig}\nexport LOCAL_CLUSTER_RUN={run_dir}\n"
        f"export LOCAL_CLUSTER_NETNS={state.netns}\nexport LOCAL_REGISTRY={plan.registry}\n",
        encoding="utf-8",
    )
    say(
        f"cluster up: KUBECONFIG={cluster.kubeconfig}; commands run inside with "
        f"`nsenter --net=/run/netns/{state.netns}`"
    )
    return cluster


def _write_configs(cluster: Cluster) -> None:
    plan = cluster.plan
    with step("certificates, tokens and configuration"):
        keys, tokens = pki.make_pki(plan)
        plan.path("tokens.csv").write_text(render.token_file(tokens), encoding="utf-8")
        plan.path("tokens.csv").chmod(0o600)
        for ident in render.IDENTITIES:
            path = plan.path(f"{ident.name}.kubeconfig")
            path.write_text(render.kubeconfig(plan, tokens[ident.name], keys.ca), encoding="utf-8")
            path.chmod(0o600)
        plan.path("containerd").mkdir()
        plan.path("containerd", "config.toml").write_text(render.containerd_config(plan))
        for registry in render.MIRRORED_REGISTRIES:
            hosts = plan.path("registry-hosts", registry)
            hosts.mkdir(parents=True)
            (hosts / "hosts.toml").write_text(render.registry_hosts(plan))
        plan.path("registry.yml").write_text(render.registry_config(plan))
        plan.path("cni").mkdir()
        plan.path("cni", "10-rqs.conflist").write_text(render.cni_config(plan))
        plan.path("kubelet.yaml").write_text(render.kubelet_config(plan, keys.ca))
        plan.path("kube-proxy.yaml").write_text(
            render.kube_proxy_config(plan, plan.path("kube-proxy.kubeconfig"))
        )
        plan.path("Corefile").write_text(render.corefile(plan, plan.path("coredns.kubeconfig")))
        plan.path("resolv.conf").write_text(render.resolv_conf(plan))
        (plan.run_dir / "admin.token").write_text(tokens["admin"])
        (plan.run_dir / "admin.token").chmod(0o600)


def _start_control_plane(cluster: Cluster) -> None:
    plan, b = cluster.plan, cluster.binaries
    p = plan.path
    admin = p("admin.token").read_text()
    with step("etcd"):
        cluster.start(
            "etcd",
            [
                str(b["etcd"]), "--data-dir", str(p("etcd")), "--name", "rqs",
                "--listen-client-urls", f"http://127.0.0.1:{plan.etcd_port}",
                "--advertise-client-urls", f"http://127.0.0.1:{plan.etcd_port}",
                "--listen-peer-urls", "http://127.0.0.1:2380",
                "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
                "--initial-cluster", "rqs=http://127.0.0.1:2380",
                "--unsafe-no-fsync", "--log-level", "warn",
            ],
        )  # fmt: skip
        cluster.wait("etcd", lambda: cluster.http_ok(f"http://127.0.0.1:{plan.etcd_port}/health"))
    with step("kube-apiserver", expect="about 5 s"):
        cluster.start(
            "kube-apiserver",
            [
                str(b["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{plan.etcd_port}",
                f"--bind-address={plan.node_ip}", f"--advertise-address={plan.node_ip}",
                f"--secure-port={plan.apiserver_port}",
                f"--service-cluster-ip-range={plan.service_range}",
                f"--tls-cert-file={p('pki', 'apiserver.crt')}",
                f"--tls-private-key-file={p('pki', 'apiserver.key')}",
                f"--client-ca-file={p('pki', 'ca.crt')}",
                f"--token-auth-file={p('tokens.csv')}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--service-account-key-file={p('pki', 'sa.pub')}",
                f"--service-account-signing-key-file={p('pki', 'sa.key')}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--requestheader-client-ca-file={p('pki', 'front-proxy-ca.crt')}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--proxy-client-cert-file={p('pki', 'front-proxy-client.crt')}",
                f"--proxy-client-key-file={p('pki', 'front-proxy-client.key')}",
                "--enable-aggregator-routing=true",
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={p('pki', 'apiserver-kubelet-client.crt')}",
                f"--kubelet-client-key={p('pki', 'apiserver-kubelet-client.key')}",
                f"--cert-dir={p('pki', 'apiserver-generated')}",
                "--profiling=false",
            ],
        )  # fmt: skip
        cluster.wait(
            "kube-apiserver", lambda: cluster.http_ok(f"{plan.apiserver_url}/readyz", admin), 120
        )
    with step("kube-controller-manager, kube-scheduler"):
        cluster.start(
            "kube-controller-manager",
            [
                str(b["kube-controller-manager"]),
                f"--kubeconfig={p('controller-manager.kubeconfig')}",
                f"--authentication-kubeconfig={p('controller-manager.kubeconfig')}",
                f"--authorization-kubeconfig={p('controller-manager.kubeconfig')}",
                f"--service-account-private-key-file={p('pki', 'sa.key')}",
                f"--root-ca-file={p('pki', 'ca.crt')}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={plan.service_range}",
                "--leader-elect=false", "--bind-address=127.0.0.1",
                f"--cert-dir={p('pki', 'kcm')}", f"--flex-volume-plugin-dir={p('flex')}",
                "--controllers=*,-bootstrapsigner,-tokencleaner",
                # HPAs are evaluated every 5 s instead of 15 s: the scaling tests wait on it.
                "--horizontal-pod-autoscaler-sync-period=5s",
            ],
        )  # fmt: skip
        cluster.start(
            "kube-scheduler",
            [
                str(b["kube-scheduler"]),
                f"--kubeconfig={p('scheduler.kubeconfig')}",
                f"--authentication-kubeconfig={p('scheduler.kubeconfig')}",
                f"--authorization-kubeconfig={p('scheduler.kubeconfig')}",
                "--leader-elect=false", "--bind-address=127.0.0.1",
            ],
        )  # fmt: skip


def _start_registry(
    cluster: Cluster, base_images: list[str], project_images: list[str], cache: Path
) -> None:
    """The run's registry, its storage started from the cache's copy of an earlier run's.

    The copy is the run's own (the storage lives in the run directory), so two runs never
    write one storage, and every image is pushed again, so the project's images are this
    run's: of theirs, only the layers that changed are uploaded (the Python base and, unless
    the lock changed, the dependencies are in the copy already).
    """
    plan = cluster.plan
    storage = plan.path("registry")
    seed = build.registry_seed([*base_images, build.BASE_IMAGE], cache)
    if build.stamp_of(seed).exists():
        with step("registry storage of an earlier run with the same base images, from the cache"):
            shutil.copytree(seed, storage, ignore=shutil.ignore_patterns(".complete"))
    with step(f"OCI registry on {plan.registry} (Debian docker-registry)"):
        cluster.start("registry", ["docker-registry", "serve", str(plan.path("registry.yml"))])
        cluster.wait("registry", lambda: cluster.http_ok(f"http://{plan.registry}/v2/"))
    _push(cluster.state, [*base_images, *project_images], cache)
    build.built_once(cache, seed, lambda tmp: shutil.copytree(storage, tmp, dirs_exist_ok=True))


def _push(state: RunState, images: Sequence[str], cache: Path) -> None:
    """``images`` into the run's registry (from inside its network namespace)."""
    registry = render.Plan(run_dir=Path(state.run_dir)).registry
    env = build.buildah_env(cache)
    with step(f"push {len(images)} images to the registry"):
        for image in images:
            path = image.split("/", 1)[1]
            sh(
                [*hostnet.nsenter(state.netns), "buildah", "push", "--quiet",
                 "--tls-verify=false", image, f"docker://{registry}/{path}"],
                env=env,
            )  # fmt: skip


def late_images(run_dir: Path, cache: Path | None = None) -> None:
    """build.LATE's binaries and images, pushed into the running cluster's registry.

    What the e2e run's second phase (KEDA) needs and its first does not. The e2e run starts
    the build (``late`` without a run) before the project's images and this once the cluster
    is up, both at the lowest CPU priority, so a cold machine compiles KEDA while the images
    are built, the cluster starts and the prometheus-adapter tests run; this waits on the
    build's lock. ``LATE_DONE`` in the run directory says it is done, ``LATE_FAILED`` why not
    (:func:`wait_for_late` reads them).
    """
    cache = cache or cache_dir()
    try:
        images = build.tool_images(build.build_late(cache), cache)
        _push(RunState.load(run_dir), images, cache)
    except BaseException as error:
        (run_dir / LATE_FAILED).write_text(f"{type(error).__name__}: {error}", encoding="utf-8")
        raise
    (run_dir / LATE_DONE).touch()


def wait_for_late(run_dir: Path, timeout: float = 3600) -> None:
    """Until :func:`late_images` is done for this run; raises when it failed or is gone."""
    pid_file, deadline = run_dir / LATE_PID, time.monotonic() + timeout
    while not (run_dir / LATE_DONE).exists():
        if (run_dir / LATE_FAILED).exists():
            reason = (run_dir / LATE_FAILED).read_text(encoding="utf-8")
            raise RuntimeError(f"the build of {', '.join(build.LATE)} failed: {reason}")
        if pid_file.exists() and not _alive(int(pid_file.read_text())):
            raise RuntimeError(f"the build of {', '.join(build.LATE)} exited unfinished")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the build of {', '.join(build.LATE)} took over {timeout:g}s")
        time.sleep(1)


def _start_node(cluster: Cluster) -> None:
    plan, b = cluster.plan, cluster.binaries
    p = plan.path
    with step("containerd"):
        cluster.start("containerd", ["containerd", "--config", str(p("containerd", "config.toml"))])
        cluster.wait("containerd", lambda: plan.containerd_socket.exists())
    with step("kubelet", expect="node Ready about 15 s after start"):
        root = plan.kubelet_root
        root.mkdir(parents=True, exist_ok=True)
        # The kubelet's volume mounts must propagate to containers: a shared mount.
        sh(["mount", "--bind", str(root), str(root)])
        sh(["mount", "--make-rshared", str(root)])
        plan.pv_root.mkdir(parents=True, exist_ok=True)
        cluster.start(
            "kubelet",
            [
                str(b["kubelet"]), f"--config={p('kubelet.yaml')}",
                f"--kubeconfig={p('kubelet.kubeconfig')}", f"--root-dir={root}",
                f"--cert-dir={p('pki', 'kubelet')}", f"--hostname-override={render.NODE_NAME}",
                f"--node-ip={plan.node_ip}",
            ],
        )  # fmt: skip
        cluster.start("kube-proxy", [str(b["kube-proxy"]), f"--config={p('kube-proxy.yaml')}"])
        cluster.start("coredns", [str(b["coredns"]), "-conf", str(p("Corefile"))])

        def node_ready() -> bool:
            out = cluster.kubectl(
                "get", "node", render.NODE_NAME, "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}", check=False,
            )  # fmt: skip
            return out.strip() == "True"

        cluster.wait("node Ready", node_ready, 180)


def _install_basics(cluster: Cluster) -> None:
    from tests.localcluster import addons

    with step("cluster basics (CoreDNS RBAC, StorageClass, hostPath PVs)"):
        for pv in addons.volume_dirs(cluster.plan):
            pv.mkdir(parents=True, exist_ok=True)
            # hostPath ignores fsGroup: Redis (its own uid) and uid 10001 must both write.
            pv.chmod(0o777)
        cluster.kubectl("apply", "-f", "-", input_text=addons.basics_yaml(cluster.plan))


# --------------------------------------------------------------------------- down


def _descendants(roots: set[int]) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _shims(run_dir: str) -> set[int]:
    """containerd shims of this run (their command line names our containerd socket)."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "containerd-shim" in text and run_dir in text:
            found.add(int(cmdline.parent.name))
    return found


def _stop(pids: set[int], grace: float = 10) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _delete_pods(state: RunState) -> None:
    """Pods go first, through the kubelet, so it unmounts volumes and removes sandboxes."""
    kubeconfig = Path(state.run_dir, "admin.kubeconfig")
    pids = state.pids
    if not kubeconfig.exists() or not all(
        _alive(pids.get(n, -1)) for n in ("kube-apiserver", "kubelet")
    ):
        return
    # Nothing may recreate them meanwhile.
    _stop({pids[n] for n in ("kube-controller-manager", "kube-scheduler") if n in pids}, 5)
    sh(
        [*hostnet.nsenter(state.netns), tool("kubectl"), "--kubeconfig", str(kubeconfig),
         "delete", "pods", "--all", "--all-namespaces", "--grace-period=2", "--timeout=90s",
         "--wait=true"],
        check=False, timeout=120,
    )  # fmt: skip


def down(state: RunState) -> list[str]:
    """Undo the run; returns the differences the machine still shows (empty = restored)."""
    with step(f"teardown of run {state.run_id}"):
        try:
            _delete_pods(state)
        except (CommandFailed, subprocess.TimeoutExpired) as exc:
            say(f"pod deletion incomplete ({exc}); stopping processes anyway")
        order = ["kube-proxy", "kubelet", "coredns", "kube-scheduler", "kube-controller-manager"]
        for name in order:
            if name in state.pids:
                _stop({state.pids[name]})
        # Container processes are children of the shims, not of containerd.
        _stop(_descendants(_shims(state.run_dir)), 5)
        for name in ("containerd", "registry", "kube-apiserver", "etcd"):
            if name in state.pids:
                _stop({state.pids[name]})
        # Whatever else still runs in the namespace (pod netns are namespaces of their own).
        _stop(hostnet.processes_in(state.netns) - {os.getpid()}, 5)
        _unmount_under(state.run_dir)
        hostnet.close_network(state)
        differences = hostnet.differences(state.host_snapshot, hostnet.snapshot())
        if not differences:
            shutil.rmtree(state.run_dir, ignore_errors=True)
    if differences:
        say("the machine is NOT as it was before the run:\n  " + "\n  ".join(differences))
    else:
        say(
            "the machine is as it was before the run (links, addresses, routes, rules, "
            "iptables, sysctls, netns, mounts)"
        )
    return differences


def _rule_present(rule: list[str]) -> bool:
    return (
        subprocess.run(["iptables", "-C", *rule], capture_output=True, check=False).returncode == 0
    )


def _unmount_under(run_dir: str) -> None:
    points = hostnet.mount_points(Path("/proc/self/mountinfo").read_text())
    mine = [m for m in points if m == run_dir or m.startswith(run_dir + "/")]
    for point in sorted(mine, key=len, reverse=True):
        sh(["umount", "--lazy", point], check=False)
