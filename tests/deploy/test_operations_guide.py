"""docs/operations.md, played offline: its shell blocks run in order against a simulated cluster
(fake_cluster.py), in a copy of the repository, with the real scripts, kustomize renders and
make targets. The simulation refuses what a cluster would refuse at that point (an operator's
resource before the operator, an object before its namespace, a workload before its Secrets),
so a step moved out of order fails here. Also: the versions table matches the install commands,
and every kustomization the guide names renders."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import ROOT, rendered

GUIDE = ROOT / "docs" / "operations.md"
TOOLS = ("kubectl", "helm", "make", "kind", "git", "curl")


def _section(title: str) -> str:
    text = GUIDE.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def _blocks(text: str) -> list[str]:
    return [b.strip("\n") for b in re.findall(r"^ *```sh\n(.*?)^ *```", text, re.M | re.S)]


def _dedent(block: str) -> str:
    return "\n".join(line[2:] if line.startswith("  ") else line for line in block.splitlines())


@pytest.fixture
def sandbox(tmp_path):
    """A copy of the repository's deploy parts, the simulated tools first on PATH; returns run(script)."""
    repo = tmp_path / "repo"
    for part in ("deploy", "scripts", "docs"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("__pycache__", "schemas"))
    for f in ("Makefile",):
        shutil.copy(ROOT / f, repo / f)
    (repo / "scripts" / "check_deploy.sh").write_text('#!/bin/sh\necho "check_deploy $*" >> checks.log\n')
    (repo / "idp-public.pem").write_text("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in TOOLS:
        (stubs / tool).write_text(
            f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).with_name("fake_cluster.py")}" {tool} "$@"\n'
        )
        (stubs / tool).chmod(0o755)
    (stubs / "python").symlink_to(sys.executable)
    state = tmp_path / "cluster.json"
    env = {
        **os.environ,
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "FAKE_CLUSTER_STATE": str(state),
        "FAKE_REPO": str(repo),
        "FAKE_REAL_KUBECTL": shutil.which("kubectl"),
        "FAKE_REAL_MAKE": shutil.which("make"),
    }

    def run(script: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, cwd=repo, env=env, timeout=600
        )

    run.state = lambda: json.loads(state.read_text())
    run.reset = lambda: state.unlink(missing_ok=True)
    run.repo = repo
    return run


def _walkthrough() -> list[str]:
    return _blocks(_section("From an empty cluster to a first upload"))


@pytest.mark.timeout(900)
def test_the_walkthrough_takes_an_empty_cluster_to_a_first_upload(sandbox):
    steps = _walkthrough()
    assert len(steps) == 8
    proc = sandbox("\n".join(steps))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    state = sandbox.state()
    assert "check_deploy" in (sandbox.repo / "checks.log").read_text()
    for ns, kinds in {
        "beatpass": {
            "Deployment/beatpass-upload",
            "Job/beatpass-upload-migrate-walkthrough",
            "User/beatpass-catalog",
            "Certificate/beatpass-upload-tls",
            "ScaledObject/beatpass-waveform",
        },
        "beatpass-data": {
            "Cluster/beatpass-postgres",
            "Tenant/beatpass-minio",
            "Pooler/beatpass-postgres-pooler-rw",
            "ObjectStore/beatpass-offsite",
            "RabbitmqCluster/beatpass-rabbitmq",
        },
    }.items():
        assert kinds <= set(state["applied"][ns]), kinds - set(state["applied"][ns])
    # what create_secrets.sh made is exactly what the prod overlay reads: nothing missing, nothing extra
    assert set(state["secrets"]["beatpass"]) == _referenced_secrets("beatpass")
    assert set(state["secrets"]["beatpass-data"]) == _referenced_secrets("beatpass-data")


def _referenced_secrets(ns: str) -> set[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from fake_cluster import secret_refs

    return {name for d in rendered("prod") if d["metadata"].get("namespace") == ns for name, _ in secret_refs(d)} - {
        "beatpass-upload-tls"
    }


@pytest.mark.timeout(900)
def test_releases_and_a_restore_follow_the_walkthrough(sandbox):
    assert sandbox("\n".join(_walkthrough())).returncode == 0
    releases = _blocks(_section("Releases"))
    restore = [_dedent(b) for b in _blocks(_section("Backup and restore")) if "deploy/k8s/restore" in b]
    assert len(releases) == 1 and len(restore) == 1
    proc = sandbox("\n".join(releases + restore))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Cluster/beatpass-postgres-restore" in sandbox.state()["applied"]["beatpass-data"]


@pytest.mark.timeout(600)
def test_steps_out_of_order_are_refused(sandbox):
    """The simulation is strict: the guide's order is the one that works."""
    steps = _walkthrough()
    operators, secrets_step, services = steps[1], steps[4], steps[6]
    assert "needs Secret" in sandbox(f"{operators}\n{services}").stderr
    sandbox.reset()
    assert "ensure CRDs are installed first" in sandbox(secrets_step.splitlines()[0] + "\n" + services).stderr
    sandbox.reset()
    cert_manager_last = "\n".join(
        [line for line in operators.splitlines() if "cert-manager" not in line]
        + [line for line in operators.splitlines() if "jetstack/cert-manager" in line]
    )
    assert "needs ['Certificate'" in sandbox(cert_manager_last).stderr
    sandbox.reset()
    assert 'namespaces "beatpass" not found' in sandbox(f"{operators}\n{secrets_step.splitlines()[1]}").stderr


@pytest.mark.timeout(600)
def test_the_dev_cluster_section_works_after_the_operators(sandbox):
    operators = _walkthrough()[1]
    dev = _blocks(_section("Development cluster"))
    proc = sandbox("\n".join([operators, *dev]))
    assert proc.returncode == 0, proc.stderr[-3000:]
    applied = sandbox.state()["applied"]["beatpass"]
    assert "Deployment/beatpass-catalog" in applied and not any(a.startswith("Job/") for a in applied)
    assert "not present locally" in sandbox("kind load docker-image beatpass/upload:other --name beatpass").stderr


def test_versions_table_matches_the_install_commands():
    section = _section("From an empty cluster to a first upload")
    table = re.findall(r"^\| ([^|]+) \| (v?[0-9][^ |]*)[^|]* \| `([^`]+)` \|", section, re.M)
    assert len(table) == 9, table
    install = _walkthrough()[1]
    for name, version, namespace in table:
        lines = [line for line in install.splitlines() if version in line]
        assert lines, f"{name} {version}: no install command uses that version"
        assert all(f"-n {namespace}" in line or "kubectl apply" in line for line in lines), (name, lines)
    for line in install.splitlines():
        if line.startswith("helm upgrade"):
            assert "--version" in line, line


def test_every_kustomization_the_guide_names_renders():
    paths = set(re.findall(r"kubectl (?:apply|kustomize|delete) (?:--server-side )?-k ([\w./-]+)", GUIDE.read_text()))
    assert {
        "deploy/k8s/overlays/prod",
        "deploy/k8s/overlays/prod/data",
        "deploy/k8s/overlays/dev",
        "deploy/k8s/restore",
    } <= paths
    for path in paths:
        proc = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, (path, proc.stderr)


def test_files_and_targets_the_guide_names_exist():
    text = GUIDE.read_text()
    for path in set(re.findall(r"`((?:deploy|scripts|docs|services|libs)/[\w./<>-]+)`", text)):
        if "<" in path:
            continue
        assert (ROOT / path.rstrip("/")).exists(), path
    prose = re.sub(r"^ *```.*?^ *```", "", text, flags=re.M | re.S)
    code = "\n".join(_blocks(text)) + "\n" + "\n".join(re.findall(r"`([^`\n]+)`", prose))
    targets = set(re.findall(r"(?:^|`|\s)make ([a-z-]+)", code, re.M))
    assert {"images", "release", "lock", "test"} <= targets
    makefile = (ROOT / "Makefile").read_text()
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.M), f"make {target}"


def test_every_namespaced_kubectl_command_names_its_namespace():
    """Run from any context, a command of this guide acts on BeatPass's namespaces, not on `default`."""
    text = GUIDE.read_text()
    commands = re.findall(
        r"kubectl (?:get|describe|logs|exec|cp|scale|annotate|patch|rollout|wait|port-forward|cnpg)\b[^`\n]*", text
    )
    assert commands
    cluster_wide = ("kubectl cnpg status", "kubectl get nodes")
    missing = [c for c in commands if len(c.split()) > 2 and " -n " not in c and not c.startswith(cluster_wide)]
    assert not missing, missing
