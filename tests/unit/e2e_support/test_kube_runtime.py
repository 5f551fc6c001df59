"""The e2e helpers that run things: waits, kubectl commands, port-forwards, the skip check.

Port-forward handling is exercised with a stand-in ``kubectl`` (a small Python script on a
temporary PATH) that listens on 127.0.0.1 and prints what kubectl prints, so the manager's
readiness detection, error reporting and cleanup run against a real process.
"""

from __future__ import annotations

import base64
import json
import socket
import stat
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import kube
from tests.support.processes import port_open


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls: list[int] = []

    def probe() -> int | None:
        calls.append(1)
        return len(calls) * 10 if len(calls) >= 3 else None

    assert kube.wait_for(probe, timeout=5, interval=0.01, what="three calls") == 30
    assert len(calls) == 3


def test_wait_for_on_a_real_clock() -> None:
    """With the real clock and sleep, it polls until the condition holds and not after."""
    deadline = time.monotonic() + 0.2
    seen: list[float] = []

    def probe() -> bool:
        seen.append(time.monotonic())
        return seen[-1] >= deadline

    assert kube.wait_for(probe, timeout=5, interval=0.02, what="t")
    assert len(seen) > 1, "the first poll came before the deadline, so it must have polled again"
    assert all(t < deadline for t in seen[:-1])
    assert seen[-1] >= deadline


def test_wait_for_times_out_saying_what_it_saw() -> None:
    calls: list[int] = []

    def probe() -> int:
        calls.append(1)
        return 0

    with pytest.raises(TimeoutError, match=r"waiting for workers > 1; last value 0") as info:
        kube.wait_for(probe, timeout=0.3, interval=0.05, what="workers > 1")
    # Bounded by its timeout: it gave up by itself, after a counted number of polls.
    assert f"timed out after 0.3s ({len(calls)} attempts)" in str(info.value)
    assert len(calls) > 1


def test_wait_for_retries_listed_errors_and_reports_the_last() -> None:
    def probe() -> bool:
        raise kube.CommandError(["kubectl", "get", "pod"], 1, "", "connection refused")

    with pytest.raises(TimeoutError, match="CommandError: `kubectl get pod` exited 1: connection"):
        kube.wait_for(probe, timeout=0.2, interval=0.05, what="pod")


def test_wait_for_lets_other_errors_through() -> None:
    def probe() -> bool:
        raise KeyError("bug in the probe")

    with pytest.raises(KeyError):
        kube.wait_for(probe, timeout=5, interval=0.01, what="x")


def test_wait_for_never_sleeps_past_the_deadline() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with pytest.raises(TimeoutError, match="4 attempts"):
        kube.wait_for(
            lambda: None, timeout=2.5, interval=1.0, what="x", clock=lambda: now[0], sleep=sleep
        )
    assert slept == [1.0, 1.0, 0.5]


def test_run_reports_exit_code_and_stderr() -> None:
    with pytest.raises(kube.CommandError) as info:
        kube.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.stderr.write('Error from server (NotFound): x\\n'); sys.exit(3)",
            ]
        )
    assert info.value.returncode == 3
    assert info.value.not_found
    assert kube.run([sys.executable, "-c", "print('ok')"]).stdout == "ok\n"
    with pytest.raises(kube.CommandError, match="not found") as missing:
        kube.run(["/nonexistent/kubectl", "version"])
    assert missing.value.returncode == 127
    assert not missing.value.not_found, "a missing kubectl is not a missing object"


@pytest.mark.parametrize(
    ("returncode", "stderr", "expected"),
    [
        (1, 'Error from server (NotFound): pods "redis-queue-redis-0" not found', True),
        (1, 'Error from server (NotFound): redisqueues.queues.ai-agents.io "rq" not found', True),
        # A missing binary, however it is reported, never means "the object is gone".
        (127, "kubectl: not found", False),
        (127, "/bin/sh: 1: kubectl: not found", False),
        (127, 'Error from server (NotFound): pods "x" not found', False),
        # kubectl's other failures that merely say "not found" are errors too.
        (1, 'error: context "kind-rq-e2e" not found', False),
        (1, "Error from server (Forbidden): pods is forbidden", False),
    ],
)
def test_not_found_is_only_the_api_servers_answer(
    returncode: int, stderr: str, expected: bool
) -> None:
    error = kube.CommandError(["kubectl", "get", "pod", "x"], returncode, "", stderr)
    assert error.not_found is expected


def test_kubectl_command_pins_context_and_namespace() -> None:
    k = kube.Kubectl(context="kind-e2e", namespace="rq", binary="/x/kubectl")
    assert k.command("get", "rqueue") == [
        "/x/kubectl",
        "--context",
        "kind-e2e",
        "--namespace",
        "rq",
        "get",
        "rqueue",
    ]
    assert k.command("get", "crd", namespace="") == [
        "/x/kubectl",
        "--context",
        "kind-e2e",
        "get",
        "crd",
    ]
    assert k.command("get", "pods", namespace="monitoring")[4] == "monitoring"


def test_port_forward_command() -> None:
    k = kube.Kubectl(context="kind-e2e", namespace="rq")
    forward = k.port_forward("svc/redis-queue-redis", 6379)
    forward.local_port = 40123
    assert forward.command() == [
        "kubectl",
        "--context",
        "kind-e2e",
        "--namespace",
        "rq",
        "port-forward",
        "--address",
        "127.0.0.1",
        "svc/redis-queue-redis",
        "40123:6379",
    ]
    other = k.port_forward("svc/prometheus-operated", 9090, namespace="monitoring")
    other.local_port = 40124
    assert other.command()[4] == "monitoring"
    assert other.url == "http://127.0.0.1:40124"


FAKE_KUBECTL = textwrap.dedent(
    """\
    #!{python}
    # Stand-in for `kubectl port-forward` (behaves as FAKE_MODE says) and `kubectl get`.
    import os, socket, sys, time
    args = sys.argv[1:]
    if "get" in args:  # `kubectl get KIND NAME -o json`: FAKE_GET, else the API's NotFound
        if "FAKE_GET" not in os.environ:
            sys.stderr.write(f'Error from server (NotFound): {{args[-4]}} "{{args[-3]}}" not found')
            sys.exit(1)
        print(os.environ["FAKE_GET"], flush=True)
        sys.exit(0)
    address = args[args.index("--address") + 1]
    local, remote = args[-1].split(":")
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "fail":
        print('error: services "nope" not found', flush=True)
        sys.exit(1)
    if mode == "silent":
        time.sleep(60)
        sys.exit(0)
    server = socket.socket()
    server.bind((address, int(local)))
    server.listen()
    print(f"Forwarding from {{address}}:{{local}} -> {{remote}}", flush=True)
    while True:
        conn, _ = server.accept()
        conn.close()
    """
)


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> kube.Kubectl:
    """A Kubectl whose binary is FAKE_KUBECTL."""
    path = tmp_path / "kubectl"
    path.write_text(FAKE_KUBECTL.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return kube.Kubectl(context="kind-e2e", namespace="rq", binary=str(path))


def test_port_forward_waits_for_kubectl_and_stops_it(fake_kubectl: kube.Kubectl) -> None:
    with fake_kubectl.port_forward("svc/redis-queue-redis", 6379) as forward:
        assert forward.process is not None
        assert forward.process.poll() is None
        assert port_open(forward.local_port)
        assert forward.output == [f"Forwarding from 127.0.0.1:{forward.local_port} -> 6379"]
        with socket.create_connection(("127.0.0.1", forward.local_port), timeout=2):
            pass
        process = forward.process
    assert process is not None
    assert process.poll() is not None, "leaving the context must stop kubectl"


def test_port_forward_raises_what_kubectl_printed_when_it_exits(
    fake_kubectl: kube.Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "fail")
    forward = fake_kubectl.port_forward("svc/nope", 6379)
    with pytest.raises(kube.CommandError, match='services "nope" not found'):
        forward.__enter__()
    assert forward.process is not None
    assert forward.process.poll() is not None


def test_port_forward_gives_up_after_its_ready_timeout(
    fake_kubectl: kube.Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "silent")
    forward = fake_kubectl.port_forward("svc/slow", 6379)
    forward.ready_timeout = 0.5
    # The fake stays silent for 60 s and then exits: had the manager waited for that, it would
    # report kubectl's exit (CommandError), not its own ready timeout.
    with pytest.raises(TimeoutError, match=r"not ready after 0\.5s"):
        forward.__enter__()
    assert forward.process is not None
    assert forward.process.poll() is not None, "a forward that never got ready is stopped"
    assert forward.process.returncode < 0, "stopped by a signal from the manager, not exited"


def test_kubectl_get_is_none_only_when_the_api_says_not_found(
    fake_kubectl: kube.Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_GET", raising=False)
    assert fake_kubectl.get("pod", "gone") is None
    monkeypatch.setenv("FAKE_GET", '{"metadata": {"name": "here"}}')
    assert fake_kubectl.get("pod", "here") == {"metadata": {"name": "here"}}
    # Without kubectl nothing is known to be gone: a "gone" check must fail, not pass.
    missing = kube.Kubectl(context="kind-e2e", namespace="rq", binary="/nonexistent/kubectl")
    with pytest.raises(kube.CommandError, match="not found") as info:
        missing.get("pod", "gone")
    assert info.value.returncode == 127


def test_redis_session_stops_its_port_forward_when_ping_fails(
    fake_kubectl: kube.Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake forward accepts and closes every connection, so PING through it fails."""
    from tests.e2e import stack

    secret = {"password": base64.b64encode(b"pw").decode()}
    obj = {"metadata": {"name": "rq"}, "spec": {}, "data": secret}  # the RedisQueue and Secret
    monkeypatch.setenv("FAKE_GET", json.dumps(obj))

    def once(probe: Callable[[], object], **_: object) -> object:
        """wait_for with a single attempt, so the test need not wait out PING's 30 s."""
        try:
            value = probe()
        except Exception as exc:
            raise TimeoutError(f"first attempt failed: {exc!r}") from exc
        if not value:
            raise TimeoutError(f"first attempt gave {value!r}")
        return value

    monkeypatch.setattr(stack, "wait_for", once)
    session = stack.RedisSession(fake_kubectl, "rq")
    with pytest.raises(TimeoutError, match="first attempt failed"), session:
        pytest.fail("entered a session whose PING failed")
    assert session.forward is not None
    assert session.forward.process is not None
    assert session.forward.process.poll() is not None, "kubectl port-forward left running"


KIND_CONFIG = {"name": "rq-e2e", "nodes": []}


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def settings() -> kube.E2ESettings:
    return kube.E2ESettings(cluster="rq-e2e", kubectl="kubectl", helm="helm")


def test_environment_problem_without_docker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert kube.environment_problem(settings()) == "docker CLI not found on PATH"


def test_environment_problem_with_docker_but_no_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(
        tmp_path / "docker",
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock.' >&2; exit 1",
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = kube.environment_problem(settings())
    assert problem == (
        "docker daemon not reachable "
        "(Cannot connect to the Docker daemon at unix:///var/run/docker.sock.)"
    )


def test_environment_problem_walks_kind_cluster_and_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _script(tmp_path / "docker", "echo 27.0.0")
    monkeypatch.setenv("PATH", str(tmp_path))  # only the stand-ins, never a real kind
    assert kube.environment_problem(settings()) == "kind not found on PATH"

    _script(tmp_path / "kind", "echo other-cluster")
    assert kube.environment_problem(settings()) == "kind cluster 'rq-e2e' does not exist"

    _script(tmp_path / "kind", "echo other-cluster; echo rq-e2e")
    _script(tmp_path / "kubectl", "echo 'connection refused' >&2; exit 1")
    _script(tmp_path / "helm", "exit 0")
    assert kube.environment_problem(settings()) == (
        "cluster context 'kind-rq-e2e' not reachable (connection refused)"
    )

    _script(tmp_path / "kubectl", 'echo "$@" > "${0%/*}/kubectl.args"; echo ok')
    _script(tmp_path / "helm", "echo 'Error: release: not found' >&2; exit 1")
    assert kube.environment_problem(settings()) == (
        "helm release 'redis-queue' not installed in namespace 'redis-queue-e2e' "
        "(Error: release: not found)"
    )
    assert (tmp_path / "kubectl.args").read_text().split() == [
        "--context",
        "kind-rq-e2e",
        "get",
        "--raw",
        "/readyz",
    ]

    _script(tmp_path / "helm", "echo STATUS: deployed")
    assert kube.environment_problem(settings()) is None


def test_skip_message_names_the_command() -> None:
    message = kube.skip_message("kind not found on PATH")
    assert message.startswith("e2e needs a cluster with the stack installed: kind not found")
    assert "run `make e2e`" in message


def test_settings_from_env() -> None:
    config = kube.KindConfig(name="rq-e2e", nodes=())
    default = kube.E2ESettings.from_env({}, config)
    assert default.cluster == "rq-e2e"
    assert default.context == "kind-rq-e2e"
    assert default.namespace == "redis-queue-e2e"
    assert default.monitoring_namespace == "monitoring"
    assert default.ready_timeout == 300.0
    assert not default.required
    custom = kube.E2ESettings.from_env(
        {
            "KIND_CLUSTER": "mine",
            "E2E_NAMESPACE": "ns",
            "E2E_RELEASE": "rel",
            "MONITORING_NAMESPACE": "mon",
            "E2E_SCALE_DOWN_TIMEOUT": "60",
            "E2E_REQUIRED": "1",
            "KUBECTL": "/opt/kubectl",
        },
        config,
    )
    assert (custom.context, custom.namespace, custom.release) == ("kind-mine", "ns", "rel")
    assert custom.monitoring_namespace == "mon"
    assert custom.scale_down_timeout == 60.0
    assert custom.scale_up_timeout == default.scale_up_timeout
    assert custom.required
    assert custom.kubectl == "/opt/kubectl"
    assert not kube.E2ESettings.from_env({"E2E_REQUIRED": "0"}, config).required
    # Set but empty (as `make` passes an unset variable through) keeps the default.
    empty = kube.E2ESettings.from_env(
        {"KIND_CLUSTER": "", "E2E_NAMESPACE": "", "E2E_READY_TIMEOUT": ""}, config
    )
    assert (empty.cluster, empty.namespace, empty.ready_timeout) == (
        "rq-e2e",
        "redis-queue-e2e",
        300.0,
    )


def test_load_kind_config_rejects_other_documents(tmp_path: Path) -> None:
    path = tmp_path / "kind.yaml"
    path.write_text("kind: Pod\napiVersion: v1\n")
    with pytest.raises(ValueError, match="kind Cluster"):
        kube.load_kind_config(path)
    path.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: []\n")
    with pytest.raises(ValueError, match="name"):
        kube.load_kind_config(path)
    path.write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: c\nnodes:\n"
        "- role: control-plane\n  image: a\n- role: worker\n  image: b\n"
    )
    with pytest.raises(ValueError, match="different images"):
        _ = kube.load_kind_config(path).node_image
