"""Builds what the cluster runs, once per machine: Go binaries, root filesystems, images.

Every product is keyed by what made it (the wrapper go.mod/go.sum and ldflags, the package
list of a root filesystem) and kept in the cache with a stamp written last, so an
interrupted build is redone and a finished one is reused by every later clone and run.
The project's own images are the exception: they are what the tests test, so they are built
from its Dockerfiles on every run: about 4 s each when nothing changed, 10 s after a
change to the code (buildah reuses the layer of dependencies, which the Dockerfiles install
before copying the code) and 35 s when pyproject.toml or the lock changed (PyPI).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.localcluster import trim as trimming
from tests.localcluster.layout import GO_DIR, REPO_ROOT, cache_dir
from tests.localcluster.progress import say, sh, step

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Local image names: `.test` is reserved (RFC 2606), so they can never mean a real registry.
LOCAL_REGISTRY_HOST = "rqs.test"
BASE_IMAGE = f"{LOCAL_REGISTRY_HOST}/python:3.11-bookworm"
REDIS_IMAGE = f"{LOCAL_REGISTRY_HOST}/redis:7.0-bookworm"
PAUSE_IMAGE = f"{LOCAL_REGISTRY_HOST}/pause:3.10"
# The wheel the Dockerfiles' base must have besides pip and setuptools (the official python
# image ships all three, and the Dockerfiles' final stage uninstalls them).
WHEEL_PIN = "wheel==0.45.1"


@dataclass(frozen=True)
class Component:
    """One wrapper module of cluster/go (components.json).

    ``binaries[i]`` is the file ``packages[i]`` is built into: names are unique across all
    components (two upstreams both call theirs ``operator``).
    """

    name: str
    version: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    ldflags: str
    # Go build tags; Prometheus' drop every service discovery but Kubernetes' (half its build).
    tags: str = ""
    # Plug-ins left out of the build (KEDA's scalers but two, CoreDNS' plug-ins but six): trim.py.
    trim: trimming.Trim | None = None

    @property
    def module_dir(self) -> Path:
        return GO_DIR / self.name

    def key(self) -> str:
        digest = hashlib.sha256()
        for part in ("go.mod", "go.sum"):
            path = self.module_dir / part
            if path.exists():
                digest.update(path.read_bytes())
        for source in sorted(self.module_dir.glob("*.go")):
            digest.update(source.read_bytes())
        digest.update(self.ldflags.encode())
        digest.update(self.tags.encode())
        digest.update(" ".join(self.packages).encode())
        if self.trim is not None:  # what is left out, and the code that leaves it out
            digest.update(repr(self.trim).encode())
            digest.update(Path(trimming.__file__).read_bytes())
        return digest.hexdigest()[:12]


def load_components(path: Path = GO_DIR / "components.json") -> list[Component]:
    entries = json.loads(path.read_text(encoding="utf-8"))
    return [
        Component(
            name=e["name"],
            version=e["version"],
            packages=tuple(e["packages"]),
            binaries=tuple(e["binaries"]),
            ldflags=e.get("ldflags", ""),
            tags=e.get("tags", ""),
            trim=_trim(e["trim"]) if "trim" in e else None,
        )
        for e in entries
    ]


def _trim(entry: Mapping[str, Any]) -> trimming.Trim:
    """components.json's ``trim``: the module and one of its edits (see trim.py)."""
    edit: trimming.StubOut | trimming.KeepImports
    if "stub_out" in entry:
        spec = entry["stub_out"]
        edit = trimming.StubOut(
            package=spec["package"],
            keep=tuple(spec["keep"]),
            interface=spec["interface"],
        )
    else:
        spec = entry["keep_imports"]
        edit = trimming.KeepImports(file=spec["file"], keep=tuple(spec["keep"]))
    return trimming.Trim(module=entry["module"], edit=edit)


# The Go compiler's garbage collector target while building. The default (100) collects the
# compiler's heap four times as often; measured on 2 cores building etcd with an empty build
# cache, 400 took 87.3 and 88.0 s where 100 took 106.9 and 98.9 s (0.85x), for some hundreds of
# MB more memory per compile job, which these 24 GiB machines have.
BUILD_GOGC = "400"


def go_env(cache: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """One module and build cache for every component: they share most packages."""
    env = dict(base)
    env.update(
        GOMODCACHE=str(cache / "go" / "mod"),
        GOCACHE=str(cache / "go" / "build"),
        GOFLAGS="-buildvcs=false -mod=readonly",
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOGC=BUILD_GOGC,
    )
    return env


def binary_dir(component: Component, cache: Path) -> Path:
    return cache / "bin" / f"{component.name}-{component.key()}"


# Cold times measured on 2 cores (cluster/go/README.md), for the progress line.
COLD_MINUTES = {
    "kubernetes": 15,
    "keda": 7,
    "prometheus": 8,
    "coredns": 2,
    "prometheus-adapter": 3,
    "kube-state-metrics": 3,
    "prometheus-operator": 3,
    "etcd": 2,
}


def lock_path(cache: Path, product: str) -> Path:
    """The lock file of ``product`` (a product's directory name)."""
    return cache / "locks" / f"{product}.lock"


@contextmanager
def _exclusive(cache: Path, product: str) -> Iterator[None]:
    lock = lock_path(cache, product)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def stamp_of(out: Path) -> Path:
    """The file whose presence says ``out`` is complete (written last by :func:`built_once`)."""
    return out / ".complete"


def built_once(cache: Path, out: Path, fill: Callable[[Path], object]) -> Path:
    """``out``, made by ``fill`` (into a ``.partial`` directory, renamed and stamped last) unless
    its stamp is there already.

    One builder per product at a time, across processes: `make test` starts the cluster build
    beside the non-e2e tests and the e2e run asks for the same products later, and two runs on
    one machine may ask at once. The second waits on the lock, then finds the stamp.
    Each use refreshes the stamp's time: what no run uses for long is pruned (prune.py).
    """
    stamp = stamp_of(out)
    if stamp.exists():
        with suppress(OSError):  # pruned meanwhile: then the caller's use fails, and says so
            os.utime(stamp)
        return out
    with _exclusive(cache, out.name):
        if not stamp.exists():
            tmp = out.with_name(out.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            fill(tmp)
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
            stamp.touch()
    return out


def go_build_command(component: Component, out: Path) -> tuple[list[str], dict[str, str]]:
    """The one ``go build`` of ``component`` into ``out``, and the renames after it.

    All packages go to one command (``-o dir/``), so Go links the binaries in parallel where
    one command per package linked them one after another. Such a build names each binary
    after its package's last element; ``renames`` maps those names to ``binaries``.
    """
    tags = ["-tags", component.tags] if component.tags else []
    flags = [*tags, "-ldflags", component.ldflags]
    if len(component.packages) == 1:
        return ["go", "build", "-o", str(out / component.binaries[0]), *flags,
                component.packages[0]], {}  # fmt: skip
    built = [package.rsplit("/", 1)[-1] for package in component.packages]
    if len(set(built)) != len(built):
        raise ValueError(f"{component.name}: two packages end in the same element {built}")
    renames = {b: n for b, n in zip(built, component.binaries, strict=True) if b != n}
    return ["go", "build", "-o", f"{out}/", *flags, *component.packages], renames


def build_component(component: Component, cache: Path) -> Path:
    """The directory holding ``component``'s binaries, built if this key has none yet."""
    out = binary_dir(component, cache)
    return built_once(cache, out, lambda tmp: _go_build(component, cache, tmp))


def _go_build(component: Component, cache: Path, tmp: Path) -> None:
    if shutil.which("go") is None:
        raise RuntimeError("go not found on PATH: the cluster's components are built with Go")
    tmp.mkdir()
    minutes = COLD_MINUTES.get(component.name, 1)
    command, renames = go_build_command(component, tmp)
    with step(
        f"go build {component.name} {component.version} ({', '.join(component.binaries)})",
        expect=f"cold: up to ~{minutes} min on 2 cores; log {cache / 'logs'}",
    ):
        sh(command, env=go_env(cache), cwd=source_dir(component, cache),
           log=cache / "logs" / f"go-{component.name}.log")  # fmt: skip
    for built, binary in renames.items():
        (tmp / built).rename(tmp / binary)
    missing = [b for b in component.binaries if not (tmp / b).exists()]
    if missing:
        raise RuntimeError(f"go build {component.name} produced no {missing}")


def trimmed_dir(component: Component, cache: Path) -> Path:
    """The trimmed source tree of ``component``. Not named as its binaries' directory: a
    product's lock is named after its directory, and the binaries' is held while this is made."""
    return cache / "go" / "trimmed" / f"{component.name}-{component.key()}-source"


def source_dir(component: Component, cache: Path) -> Path:
    """Where ``component``'s go commands run: its wrapper module, or for a trimmed component
    the wrapper beside the trimmed copy of its upstream module (made once per key)."""
    spec = component.trim
    if spec is None:
        return component.module_dir
    return built_once(
        cache,
        trimmed_dir(component, cache),
        lambda tmp: trimming.prepare(
            spec, module_source(component.name, spec.module, cache), component.module_dir, tmp
        ),
    )


def module_source(component: str, module: str, cache: Path | None = None) -> Path:
    """The source tree of ``module`` at the version ``component``'s go.sum pins.

    The cluster takes upstream CRDs from there (the Prometheus Operator's, KEDA's): the
    real schemas of the version it runs, not hand-kept copies.
    """
    env = go_env(cache or cache_dir())
    cwd = GO_DIR / component
    sh(["go", "mod", "download", module], env=env, cwd=cwd)
    out = sh(["go", "list", "-m", "-f", "{{.Dir}}", module], env=env, cwd=cwd).strip()
    return Path(out)


# Built on their own, not for every cluster: actionlint is a lint tool (`make lint`).
OPTIONAL = ("actionlint",)


def is_built(component: Component, cache: Path) -> bool:
    """Whether the cache holds ``component``'s binaries for its current key."""
    return stamp_of(binary_dir(component, cache)).exists()


def fetch_modules(component: Component, cache: Path) -> None:
    """Download the modules ``component``'s packages import, without compiling anything.

    ``go list -deps`` loads the import graph, which fetches exactly the modules a build needs
    (``go mod download`` would fetch the whole module graph: far more). Run for the components
    still to build while an earlier one compiles, it moves their downloads (73 s of KEDA's
    1.7 GB on a cold machine) off the critical path; Go's module cache locks what it writes, so
    the build that later finds a module there, or is fetching it too, is safe. A failure here is
    left for that build to report.
    """
    sh(["go", "list", "-deps", "-f", "{{.ImportPath}}", *component.packages],
       env=go_env(cache), cwd=source_dir(component, cache),
       log=cache / "logs" / f"go-{component.name}-modules.log", check=False)  # fmt: skip


# Run only in the e2e run's second phase, where KEDA takes the external metrics API over from
# prometheus-adapter: the e2e run builds them beside the cluster's start and the first phase
# (the ``late`` command) instead of before them, which takes KEDA's build (cold: ~5 min of
# 2 cores) off the critical path.
LATE = ("keda",)


def cluster_components(*, late: bool) -> list[Component]:
    """The components a cluster runs: the second phase's (``late``) or all the others."""
    return [c for c in load_components() if c.name not in OPTIONAL and (c.name in LATE) == late]


def build_binaries(
    components: Sequence[Component], cache: Path, fetch_also: Sequence[Component] = ()
) -> dict[str, Path]:
    """Every binary of ``components`` by name: the path the cluster starts it from.

    One build at a time (each ``go build`` keeps both cores busy), with the downloads of the
    builds still to come (and of ``fetch_also``) fetched meanwhile in one thread (they wait on
    the network, not the CPU).
    """
    found: dict[str, Path] = {}
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        for component in [*components[1:], *fetch_also]:
            if not is_built(component, cache):
                pool.submit(fetch_modules, component, cache)
        for component in components:
            out = build_component(component, cache)
            for binary in component.binaries:
                found[binary] = out / binary
    finally:  # a failed build reports at once, without waiting for the fetches still queued
        pool.shutdown(cancel_futures=True)
    return found


def build_all(cache: Path | None = None, *, fetch_late: bool = False) -> dict[str, Path]:
    """The binaries of every component but the :data:`LATE` ones, with both root filesystems
    made meanwhile: debootstrap mostly waits on the mirror and the disk while Go keeps both
    cores busy (cold: ~2 min saved). ``fetch_late``: download the late ones' modules too."""
    cache = cache or cache_dir()
    late = cluster_components(late=True) if fetch_late else []
    with ThreadPoolExecutor(max_workers=1) as pool:
        trees = pool.submit(lambda: [build_rootfs(s, cache) for s in (REDIS_ROOTFS, PYTHON_ROOTFS)])
        binaries = build_binaries(cluster_components(late=False), cache, fetch_also=late)
        trees.result()
    return binaries


def build_late(cache: Path | None = None) -> dict[str, Path]:
    """The binaries of the :data:`LATE` components."""
    return build_binaries(cluster_components(late=True), cache or cache_dir())


def built_late(cache: Path | None = None) -> dict[str, Path]:
    """The :data:`LATE` components' binaries that the cache already holds (none are built)."""
    cache = cache or cache_dir()
    return {
        binary: binary_dir(c, cache) / binary
        for c in cluster_components(late=True)
        if is_built(c, cache)
        for binary in c.binaries
    }


# --------------------------------------------------------------------------- root filesystems


@dataclass(frozen=True)
class Rootfs:
    """A Debian root filesystem made by debootstrap, then finished in a chroot."""

    name: str
    packages: tuple[str, ...]
    finish: tuple[tuple[str, ...], ...] = ()

    def key(self) -> str:
        text = json.dumps([DEBIAN_SUITE, self.packages, self.finish])
        return hashlib.sha256(text.encode()).hexdigest()[:12]


# The base the Dockerfiles build FROM (as python:3.11-slim would be): python on PATH, venv,
# and pip/setuptools/wheel installed the way pip can uninstall them again.
PYTHON_ROOTFS = Rootfs(
    name="python",
    packages=("python3", "python3-venv", "ca-certificates", "passwd"),
    finish=(
        ("ln", "-sf", "python3", "/usr/bin/python"),
        ("rm", "-f", "/usr/lib/python3.11/EXTERNALLY-MANAGED"),
        (
            "sh",
            "-c",
            # pip runs from its own wheel (a zip on sys.path) to install itself.
            'set -- /usr/share/python-wheels/pip-*.whl && python3 "$1/pip" install '
            '--no-index --quiet "$1" /usr/share/python-wheels/setuptools-*.whl /tmp/wheels/*.whl',
        ),
    ),
)
REDIS_ROOTFS = Rootfs(name="redis", packages=("redis-server", "redis-tools"))


def build_rootfs(spec: Rootfs, cache: Path) -> Path:
    out = cache / "rootfs" / f"{spec.name}-{spec.key()}"
    return built_once(cache, out, lambda tmp: _debootstrap(spec, cache, tmp))


def _debootstrap(spec: Rootfs, cache: Path, tmp: Path) -> None:
    log = cache / "logs" / f"rootfs-{spec.name}.log"
    with step(f"debootstrap {spec.name} root filesystem", expect="cold: ~2 min"):
        sh(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(spec.packages)}",
                DEBIAN_SUITE,
                str(tmp),
                DEBIAN_MIRROR,
            ],
            log=log,
        )
        if spec is PYTHON_ROOTFS:
            wheels = tmp / "tmp" / "wheels"
            wheels.mkdir(parents=True, exist_ok=True)
            sh(
                [
                    str(REPO_ROOT / ".venv" / "bin" / "pip"),
                    "download",
                    "--quiet",
                    "--only-binary=:all:",
                    "--no-deps",
                    "-d",
                    str(wheels),
                    WHEEL_PIN,
                ],
                log=log,
            )
        for command in spec.finish:
            sh(["chroot", str(tmp), *command], log=log)
        shutil.rmtree(tmp / "tmp" / "wheels", ignore_errors=True)
        sh(["chroot", str(tmp), "apt-get", "clean"], log=log)
        for cruft in ("var/lib/apt/lists", "var/cache/apt/archives"):
            shutil.rmtree(tmp / cruft, ignore_errors=True)


# --------------------------------------------------------------------------- images (buildah)


def buildah_env(cache: Path, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """buildah's storage in the cache, not /var/lib/containers.

    One file outside remains: containers/image keeps its map of which compressed blob a layer
    became (``/var/lib/containers/cache/blob-info-cache-v1.boltdb``, for root) where buildah
    has no setting for it. It is a cache (a push without it compresses again) of a few hundred
    KB, and what lets a push to a registry that has the blobs skip them.
    """
    conf = cache / "buildah" / "storage.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{cache / "buildah" / "storage"}"\n'
            f'runroot = "{cache / "buildah" / "run"}"\n',
            encoding="utf-8",
        )
    env = dict(base)
    env["CONTAINERS_STORAGE_CONF"] = str(conf)
    return env


def image_exists(name: str, env: Mapping[str, str]) -> bool:
    return bool(
        sh(["buildah", "images", "--quiet", "--filter", f"reference={name}"], env=env).strip()
    )


def registry_seed_key(image_ids: Mapping[str, str]) -> str:
    """The key of a registry storage holding exactly these images (name -> image ID)."""
    digest = hashlib.sha256()
    for name in sorted(image_ids):
        digest.update(f"{name} {image_ids[name]}\n".encode())
    return digest.hexdigest()[:12]


def registry_seed(images: Sequence[str], cache: Path) -> Path:
    """Where a run's registry storage is kept for the runs after it, keyed by the images that
    do not change from run to run (the base images and the project images' Python base).

    Why: ``buildah push`` compresses every layer again for each new registry, about 30 s a
    run, while these images change only when their binaries or root filesystems do. A run
    whose registry starts from the copy pushes them in a second or two (the registry already
    has every blob), and uploads only the project's layers that changed.
    """
    env = buildah_env(cache)
    ids = {
        name: sh(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", name],
                 env=env).strip()
        for name in images
    }  # fmt: skip
    return cache / "registry" / registry_seed_key(ids)


def image_from_tree(
    name: str, tree: Path, env: Mapping[str, str], *, config: tuple[str, ...] = ()
) -> None:
    """A single-layer image holding ``tree`` (a root filesystem or one static binary)."""
    container = sh(["buildah", "from", "scratch"], env=env).strip()
    try:
        sh(["buildah", "copy", "--quiet", container, f"{tree}/.", "/"], env=env)
        if config:
            sh(["buildah", "config", *config, container], env=env)
        sh(["buildah", "commit", "--quiet", "--rm", container, name], env=env)
    except BaseException:
        sh(["buildah", "rm", container], env=env, check=False)
        raise


def binary_tree(binary: Path, cache: Path) -> Path:
    """A tree holding one static binary at /bin/<name> (where the upstream images have it:
    the Prometheus Operator runs its config reloader by that path), plus /tmp."""
    tree = cache / "trees" / f"{binary.name}-{binary.parent.name}"
    target = tree / "bin" / binary.name
    if not target.exists():
        (tree / "tmp").mkdir(parents=True, exist_ok=True)
        (tree / "bin").mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{binary.name}.partial")  # an interrupted copy is not it
        shutil.copy2(binary, partial)
        partial.rename(target)
    return tree


def tool_image_name(binary: str, version: str) -> str:
    return f"{LOCAL_REGISTRY_HOST}/{binary}:{version}"


def _rootfs_image(spec: Rootfs, name: str, cmd: str, cache: Path) -> str:
    env = buildah_env(cache)
    tagged = f"{name}-{spec.key()}"
    if not image_exists(tagged, env):
        tree = build_rootfs(spec, cache)
        with step(f"image {name}"):
            image_from_tree(tagged, tree, env, config=("--cmd", cmd))
    sh(["buildah", "tag", tagged, name], env=env)
    return name


def ensure_python_base(cache: Path | None = None) -> str:
    """The base the project's Dockerfiles build FROM here (PYTHON_IMAGE)."""
    return _rootfs_image(PYTHON_ROOTFS, BASE_IMAGE, "python3", cache or cache_dir())


# Binaries that run as pods, each in an image of its own (the rest run on the node).
POD_BINARIES = (
    "pause",
    "prometheus",
    "prometheus-config-reloader",
    "prometheus-operator",
    "kube-state-metrics",
    "prometheus-adapter",
    "keda-operator",
    "keda-adapter",
)


def ensure_cluster_images(binaries: Mapping[str, Path], cache: Path | None = None) -> list[str]:
    """The images the tests need besides the project's: Redis, pause, the tools of ``binaries``."""
    cache = cache or cache_dir()
    return [_rootfs_image(REDIS_ROOTFS, REDIS_IMAGE, "redis-server", cache),
            *tool_images(binaries, cache)]  # fmt: skip


def tool_images(binaries: Mapping[str, Path], cache: Path | None = None) -> list[str]:
    """An image for each of :data:`POD_BINARIES` that ``binaries`` holds."""
    cache = cache or cache_dir()
    env = buildah_env(cache)
    versions = {b: c.version for c in load_components() for b in c.binaries}
    names = []
    for binary in (b for b in POD_BINARIES if b in binaries):
        path = binaries[binary]
        name = tool_image_name(binary, versions[binary])
        tagged = f"{name}-{path.parent.name}"
        # Locked: the e2e run's two `late` processes (and two runs) may make the same image.
        with _exclusive(cache, f"image-{binary}-{path.parent.name}"):
            if not image_exists(tagged, env):
                with step(f"image {name}"):
                    image_from_tree(
                        tagged,
                        binary_tree(path, cache),
                        env,
                        config=(
                            "--entrypoint",
                            json.dumps([f"/bin/{binary}"]),
                            "--user",
                            "65534:65534",
                        ),
                    )
        sh(["buildah", "tag", tagged, name], env=env)
        names.append(name)
    return names


def app_version() -> str:
    for line in (REPO_ROOT / "charts" / "redis-queue" / "Chart.yaml").read_text().splitlines():
        if line.startswith("appVersion:"):
            return line.split(":", 1)[1].strip().strip("\"'")
    return "0.1.0"


def project_image(part: str) -> str:
    """The chart's default image reference: what a user's cluster pulls from GHCR."""
    return f"ghcr.io/ai-agents/redis-queue-{part}:{app_version()}"


def build_project_images(cache: Path | None = None) -> list[str]:
    """exporter/Dockerfile and operator/Dockerfile, unchanged, with buildah (no Docker)."""
    cache = cache or cache_dir()
    ensure_python_base(cache)
    env = buildah_env(cache)
    ca_bundle = "/etc/ssl/certs/ca-certificates.crt"
    names = []
    for part in ("exporter", "operator"):
        name = project_image(part)
        with step(f"buildah bud {part}/Dockerfile -> {name}", expect="4-35 s"):
            sh(
                [
                    "buildah",
                    "bud",
                    "--isolation",
                    "chroot",
                    "--pull-never",
                    "--layers",
                    "--build-arg",
                    f"PYTHON_IMAGE={BASE_IMAGE}",
                    # RUN steps reach PyPI through this machine's CA bundle (a TLS proxy).
                    "-v",
                    f"{ca_bundle}:{ca_bundle}:ro",
                    "-f",
                    f"{part}/Dockerfile",
                    "-t",
                    name,
                    ".",
                ],
                env=env,
                cwd=REPO_ROOT,
                log=cache / "logs" / f"image-{part}.log",
            )
        names.append(name)
    say(f"project images: {', '.join(names)}")
    return names
