"""The release workflow publishes exactly what the chart, the operator and the docs name.

.github/workflows/release.yml runs only on GitHub, on a tag; these tests check the facts in it
that could drift from the rest of the repository without anyone noticing until a user's
`helm install` fails to pull:

- the image references it pushes, with `${{ ... }}` expressions resolved for this
  repository's owner, equal the chart's default images (values.yaml) and the operator's default
  exporter image;
- its `check` step (run here with bash and the real helm, as on the runner) accepts the tag
  v<Chart.yaml version> and refuses any other tag, and refuses an owner the defaults do not name;
- the chart goes to the OCI repository the READMEs' install instructions pull from, and the
  `cosign verify` identity in docs/release.md matches the identity this workflow signs with;
- it runs on `v*` tags only, signs what it pushes, and asks for no more than it needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from queue_operator.spec import Exporter
from tests.support.helm import CHART, ROOT, TOOLS

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
README = ROOT / "README.md"
RELEASE_DOC = ROOT / "docs" / "release.md"
CHART_README = CHART / "README.md"
OIDC_ISSUER = "https://token.actions.githubusercontent.com"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PUBLISH_PERMISSIONS = {"contents": "read", "packages": "write", "id-token": "write"}


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(WORKFLOW)
    return loaded


def chart_meta() -> dict[str, Any]:
    meta: dict[str, Any] = load_yaml(CHART / "Chart.yaml")
    return meta


def repository() -> str:
    """owner/name of this repository on GitHub, from the chart's `home`."""
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+)", chart_meta()["home"])
    assert match, chart_meta()["home"]
    return match.group(1)


def owner() -> str:
    return repository().split("/")[0]


def resolve(text: str, context: dict[str, str]) -> str:
    """Replace every `${{ expr }}` by its value in ``context``; an unknown one fails the test,
    so a reference the tests do not model cannot slip past them."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in context, f"unmodelled expression ${{{{ {expression} }}}} in {text!r}"
        return context[expression]

    return EXPRESSION.sub(value, text)


def step_with_id(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [s for s in job["steps"] if s.get("id") == step_id]
    assert len(steps) == 1, f"expected one step with id {step_id!r}"
    return steps[0]


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).split("@")[0] == action]


def section(text: str, heading: str) -> str:
    """The Markdown section under ``heading`` (a full heading line), up to the next heading of
    the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    assert heading in lines, f"no heading {heading!r}"
    start = lines.index(heading) + 1
    end = len(lines)
    in_code = False
    for number, line in enumerate(lines[start:], start):
        if line.startswith("```"):
            in_code = not in_code
        match = re.match(r"^(#+) ", line)
        if match and not in_code and len(match.group(1)) <= level:
            end = number
            break
    return "\n".join(lines[start:end])


def commands(text: str) -> list[str]:
    """Shell commands in the text's code blocks, with `\\` continuations joined."""
    blocks = re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.DOTALL)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [" ".join(line.split("#")[0].split()) for line in joined.splitlines() if line.strip()]


# --------------------------------------------------------------------------- the check job


def run_check(
    tag: str, repository_owner: str, tmp_path: Path, checkout: Path = ROOT
) -> tuple[int, str, dict[str, str]]:
    """Run the check step's script as the runner does (`bash -e -o pipefail`) in ``checkout``,
    with the workflow's and the step's environment, the real helm 3 and a $GITHUB_OUTPUT file."""
    flow = workflow()
    step = step_with_id(flow["jobs"]["check"], "version")
    context = {"github.ref_name": tag, "github.repository_owner": repository_owner}
    script = tmp_path / "check.sh"
    script.write_text(step["run"])
    output = tmp_path / "github_output"
    output.write_text("")
    assert (TOOLS / "helm").exists(), f"{TOOLS / 'helm'} is missing: run `make tools`"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELM_", "GITHUB_"))}
    env.update({k: resolve(str(v), context) for k, v in flow["env"].items()})
    env.update({k: resolve(str(v), context) for k, v in step["env"].items()})
    env.update(
        PATH=f"{TOOLS}{os.pathsep}{env.get('PATH', '')}",
        GITHUB_OUTPUT=str(output),
        HELM_CACHE_HOME=str(tmp_path / "helm" / "cache"),
        HELM_CONFIG_HOME=str(tmp_path / "helm" / "config"),
        HELM_DATA_HOME=str(tmp_path / "helm" / "data"),
    )
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(script)],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return done.returncode, done.stdout + done.stderr, outputs


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The `check` job's outputs for the tag of the chart's version, as the expressions of the
    publishing jobs see them (`needs.check.outputs.*`)."""
    version = str(chart_meta()["version"])
    code, printed, outputs = run_check(f"v{version}", owner(), tmp_path_factory.mktemp("check"))
    assert code == 0, printed
    job_outputs = workflow()["jobs"]["check"]["outputs"]
    context = {f"steps.version.outputs.{k}": v for k, v in outputs.items()}
    return {f"needs.check.outputs.{k}": resolve(v, context) for k, v in job_outputs.items()}


def test_check_passes_the_tag_of_the_chart_version(published: dict[str, str]) -> None:
    meta = chart_meta()
    assert str(meta["appVersion"]) == str(meta["version"])
    assert published == {
        "needs.check.outputs.version": str(meta["version"]),
        "needs.check.outputs.namespace": owner().lower(),
    }


@pytest.mark.parametrize(
    ("tag", "message"),
    [
        ("v99.0.0", "does not match charts/redis-queue/Chart.yaml"),
        ("v{version}-rc.1", "does not match charts/redis-queue/Chart.yaml"),
        ("{version}", "is not v<semver>"),
        ("vnext", "is not v<semver>"),
    ],
)
def test_check_refuses_any_other_tag(tag: str, message: str, tmp_path: Path) -> None:
    tag = tag.format(version=chart_meta()["version"])
    code, printed, outputs = run_check(tag, owner(), tmp_path)
    assert code != 0
    assert f"::error::tag '{tag}' {message}" in printed
    assert outputs == {}


def test_check_refuses_a_chart_whose_app_version_is_not_the_tag(tmp_path: Path) -> None:
    """The images are tagged with the tag's version and the chart pulls its appVersion: they
    must be the same, or the published chart names images that do not exist."""
    checkout = tmp_path / "checkout"
    shutil.copytree(CHART, checkout / "charts" / "redis-queue")
    spec = ROOT / "operator" / "queue_operator" / "spec.py"
    (checkout / "operator" / "queue_operator").mkdir(parents=True)
    shutil.copy(spec, checkout / "operator" / "queue_operator" / "spec.py")
    chart_yaml = checkout / "charts" / "redis-queue" / "Chart.yaml"
    text = chart_yaml.read_text()
    assert re.search(r"(?m)^appVersion: ", text)
    chart_yaml.write_text(re.sub(r"(?m)^appVersion: .*$", 'appVersion: "99.0.0"', text))
    version = chart_meta()["version"]
    code, printed, outputs = run_check(f"v{version}", owner(), tmp_path, checkout)
    assert code != 0
    assert f"appVersion: '99.0.0'): set both to '{version}'" in printed
    assert outputs == {}


def test_check_refuses_an_owner_the_chart_defaults_do_not_name(tmp_path: Path) -> None:
    version = chart_meta()["version"]
    code, printed, outputs = run_check(f"v{version}", "someone-else", tmp_path)
    assert code != 0
    assert f"is not ghcr.io/someone-else/redis-queue-operator:{version}" in printed
    assert "charts/redis-queue/values.yaml" in printed
    assert outputs == {}


def test_check_lower_cases_the_owner(tmp_path: Path) -> None:
    """GHCR names are lower-case: a mixed-case owner publishes under its lower-case name."""
    version = chart_meta()["version"]
    code, printed, outputs = run_check(f"v{version}", owner().upper(), tmp_path)
    assert code == 0, printed
    assert outputs["namespace"] == owner().lower()


# --------------------------------------------------------------------------- images


def pushed_images(published: dict[str, str]) -> dict[str, dict[str, str]]:
    """image name -> {"ref": what build-push-action tags and pushes, "dockerfile": ...}."""
    flow = workflow()
    job = flow["jobs"]["images"]
    build = step_with_id(job, "build")
    result = {}
    for entry in job["strategy"]["matrix"]["include"]:
        context = {**published, **{f"matrix.{k}": str(v) for k, v in entry.items()}}
        context.update({f"env.{k}": resolve(str(v), context) for k, v in job["env"].items()})
        (ref,) = resolve(str(build["with"]["tags"]), context).split(",")
        result[entry["image"]] = {"ref": ref.strip(), "dockerfile": entry["dockerfile"]}
    return result


def test_pushed_images_are_the_chart_and_operator_defaults(published: dict[str, str]) -> None:
    values = load_yaml(CHART / "values.yaml")
    app_version = str(chart_meta()["appVersion"])
    pushed = {image["ref"] for image in pushed_images(published).values()}
    assert pushed == {
        f"{values['operator']['image']['repository']}:{app_version}",
        f"{values['redisQueue']['exporter']['image']['repository']}:{app_version}",
    }
    # Empty tags in values mean "the chart's appVersion", which is what is pushed.
    assert values["operator"]["image"]["tag"] == ""
    assert values["redisQueue"]["exporter"]["image"]["tag"] == ""
    # A RedisQueue created without the chart gets the operator's default exporter image.
    assert Exporter().image in pushed
    assert all(ref.startswith(f"ghcr.io/{owner()}/") for ref in pushed)


def test_each_image_is_built_from_its_own_dockerfile(published: dict[str, str]) -> None:
    images = pushed_images(published)
    assert {name: image["dockerfile"] for name, image in images.items()} == {
        "redis-queue-exporter": "exporter/Dockerfile",
        "redis-queue-operator": "operator/Dockerfile",
    }
    for name, image in images.items():
        dockerfile = (ROOT / image["dockerfile"]).read_text()
        # The Dockerfile's own header names the image it builds.
        assert f"ghcr.io/{owner()}/{name}" in dockerfile.split("\n\n")[0]


def test_images_are_multi_arch_attested_and_signed_by_digest() -> None:
    job = workflow()["jobs"]["images"]
    uses = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
    build_index = uses.index("docker/build-push-action")
    assert uses.index("docker/setup-qemu-action") < build_index
    assert uses.index("docker/setup-buildx-action") < build_index
    assert uses.index("docker/login-action") < build_index
    build = step_with_id(job, "build")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    assert build["sbom"] is True
    assert build["provenance"] not in (False, "false")
    assert build["context"] == "."
    assert len(steps_using(job, "sigstore/cosign-installer")) == 1
    signing = [s for s in job["steps"] if "cosign sign" in str(s.get("run", ""))]
    assert len(signing) == 1
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in signing[0]["run"]
    assert signing[0]["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"


# --------------------------------------------------------------------------- chart


def chart_repository(published: dict[str, str]) -> str:
    job = workflow()["jobs"]["chart"]
    return resolve(str(job["env"]["CHART_REPO"]), published)


def test_chart_is_pushed_where_the_readmes_install_from(published: dict[str, str]) -> None:
    repo = chart_repository(published)
    assert repo == f"oci://ghcr.io/{owner()}/charts"
    chart_ref = f"{repo}/{chart_meta()['name']}"
    job = workflow()["jobs"]["chart"]
    script = "\n".join(str(s.get("run", "")) for s in job["steps"])
    assert 'helm push "$package" "$CHART_REPO"' in script
    assert 'cosign sign --yes "$chart_ref@$digest"' in script
    assert set(job["needs"]) == {"check", "images"}
    docs = {
        "README.md": section(README.read_text(), "## Install on a cluster"),
        "docs/release.md": section(RELEASE_DOC.read_text(), "## Install"),
        "charts/redis-queue/README.md": section(CHART_README.read_text(), "## Install"),
    }
    for name, text in docs.items():
        installs = [c for c in commands(text) if c.startswith("helm install ")]
        from_registry = [c for c in installs if "oci://" in c]
        assert from_registry, f"{name}: no `helm install oci://...` command"
        for command in from_registry:
            assert f" {chart_ref} " in f"{command} ", f"{name}: {command}"
            assert "--version " in command, f"{name}: {command}"
        assert set(re.findall(r"oci://[^\s`'\"]+", text)) == {chart_ref}, name


def test_docs_verify_the_identity_the_workflow_signs_with(published: dict[str, str]) -> None:
    version = str(chart_meta()["version"])
    workflow_ref = f"{repository()}/{WORKFLOW.relative_to(ROOT)}@refs/tags/v{version}"
    context = {"github.server_url": "https://github.com", "github.workflow_ref": workflow_ref}
    flow = workflow()
    identities = {
        resolve(str(step["env"]["IDENTITY"]), context)
        for job in ("images", "chart")
        for step in flow["jobs"][job]["steps"]
        if "IDENTITY" in step.get("env", {})
    }
    assert len(identities) == 1
    (identity,) = identities
    text = section(RELEASE_DOC.read_text(), "## Verify the signatures")
    verifies = [c for c in commands(text) if c.startswith("cosign verify ")]
    refs = {image["ref"].rsplit(":", 1)[0] for image in pushed_images(published).values()}
    refs.add(f"{chart_repository(published).removeprefix('oci://')}/{chart_meta()['name']}")
    verified = set()
    for command in verifies:
        regexp = re.search(r"--certificate-identity-regexp\s+'([^']+)'", command)
        assert regexp, command
        assert re.search(regexp.group(1), identity), (regexp.group(1), identity)
        assert not re.search(regexp.group(1), identity.replace(repository(), "someone/fork"))
        assert f"--certificate-oidc-issuer {OIDC_ISSUER}" in command
        verified.add(command.split()[2].rsplit(":", 1)[0])
    assert verified == refs, "docs/release.md should show how to verify every published artifact"


# --------------------------------------------------------------------------- triggers, permissions


def test_runs_only_on_version_tags() -> None:
    flow: dict[Any, Any] = load_yaml(WORKFLOW)
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    assert "on" not in flow
    assert flow[True] == {"push": {"tags": ["v*"]}}


def test_publishing_jobs_have_only_the_permissions_they_use() -> None:
    flow = workflow()
    assert flow["permissions"] == {"contents": "read"}
    signers = set()
    for name, job in flow["jobs"].items():
        script = "\n".join(str(s.get("run", "")) for s in job["steps"])
        if "cosign sign" in script:
            signers.add(name)
            # Keyless signing needs the OIDC token; pushing to GHCR needs packages: write.
            assert job["permissions"] == PUBLISH_PERMISSIONS, name
        else:
            assert job["permissions"] == {"contents": "read"}, name
    assert signers == {"images", "chart"}


def test_actions_are_pinned_to_a_release() -> None:
    uses = [
        str(step["uses"])
        for job in workflow()["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    ]
    assert uses
    unpinned = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+\.\d+\.\d+", u)]
    assert not unpinned, f"pin these to vMAJOR.MINOR.PATCH: {unpinned}"
