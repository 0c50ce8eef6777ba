"""The images' one build path, checked offline: base images by digest, hash-locked requirements
that agree with the pins, tags from the commit, digests pinned into the prod overlay, checkov's
Dockerfile checks (hadolint and conftest are not packaged for Debian or PyPI; checkov is)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("upload", "validation", "waveform", "fingerprint", "catalog")
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
FROM = re.compile(r"^FROM\s+(\S+)(?:\s+AS\s+\S+)?\s*$", re.M | re.I)
STAGE = re.compile(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", re.M | re.I)
DOCKERFILE = ROOT / "Dockerfile"  # the one Dockerfile of every image, SERVICE names which
PINNED = re.compile(r"^[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
sys.path.insert(0, str(ROOT / "scripts"))
import pin_images  # noqa: E402


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


def _pins(path: Path) -> dict[str, str]:
    out = {}
    for req in tomllib.loads(path.read_text())["project"]["dependencies"]:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([\w.]+)", req)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def _lock(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a pip-compile style lock."""
    out, current = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([\w.]+)(?:\s*;.*?)?\s*\\?$", line)
        if m:
            current = m.group(1).lower().replace("_", "-")
            out[current] = (m.group(2), 0)
        elif current and re.match(r"^\s+--hash=sha256:[0-9a-f]{64}", line):
            out[current] = (out[current][0], out[current][1] + 1)
    return out


def test_dockerfile_bases_are_pinned_by_digest_and_shared():
    text = DOCKERFILE.read_text()
    stages = set(STAGE.findall(text))
    images = [b for b in FROM.findall(text) if b.replace("${SERVICE}", "upload") not in stages]
    assert images and all(PINNED.match(b) for b in images), images
    python = {b for b in images if b.startswith("python:")}
    assert len(python) == 1, "build and runtime stages, and so every service, share one Python base"
    assert set(SERVICES) <= stages, "each service's image is a stage of its own"
    assert text.rstrip().endswith("FROM ${SERVICE}"), "SERVICE picks the image"
    assert not list(ROOT.glob("services/*/Dockerfile")), "no second Dockerfile to drift apart"


@pytest.mark.parametrize("svc", SERVICES)
def test_requirements_are_hash_locked_and_agree_with_the_pins(svc):
    lock = _lock(ROOT / "services" / svc / "requirements.lock")
    assert lock and all(n >= 1 for _, n in lock.values()), "every locked package carries its hashes"
    assert "beatpass-common" not in lock, "local packages are installed from the build stage, not the index"
    wanted = {**_pins(ROOT / "libs/common/pyproject.toml"), **_pins(ROOT / "services" / svc / "pyproject.toml")}
    drift = {n: (v, lock.get(n, ("missing",))[0]) for n, v in wanted.items() if lock.get(n, ("",))[0] != v}
    assert not drift, f"pyproject pins vs requirements.lock (run `make lock`): {drift}"
    text = DOCKERFILE.read_text()
    assert (
        "source=services/${SERVICE}/requirements.lock" in text and "--require-hashes -r /tmp/requirements.lock" in text
    )
    assert "--no-deps --no-index /wheels/*.whl" in text, "local wheels add no unlocked dependency"


def test_lock_parser_counts_hashes(tmp_path):
    lock = tmp_path / "r.lock"
    lock.write_text(
        "a==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n    # via x\nb==2 ; python_version < '3.12' \\\n"
        "    --hash=sha256:" + "1" * 64 + " \\\n    --hash=sha256:" + "2" * 64 + "\n"
    )
    assert _lock(lock) == {"a": ("1.0", 1), "b": ("2", 2)}


def test_checkov_dockerfile_checks():
    proc = run(
        [
            str(CHECKOV),
            "--file",
            str(DOCKERFILE),
            "--framework",
            "dockerfile",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--quiet",
        ],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
    )
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [f"{c['check_id']} {c['file_path']}" for r in reports for c in r["results"].get("failed_checks", [])]
    assert not failed, failed
    assert sum(r["summary"]["resource_count"] for r in reports) == 1
    assert sum(r["summary"]["passed"] for r in reports) > 20


def test_make_images_tags_from_the_commit():
    head = run(["git", "rev-parse", "HEAD"]).stdout.strip()
    proc = run(["scripts/build_images.sh"], env={**os.environ, "DRY_RUN": "1"})
    assert proc.returncode == 0, proc.stderr
    tag = re.search(r"--tag beatpass/upload:(\S+)", proc.stdout).group(1)
    assert tag.removesuffix("-dirty") == head[:12]
    for svc in SERVICES:
        assert f"--file Dockerfile --build-arg SERVICE={svc} " in proc.stdout
        assert f"--tag beatpass/{svc}:{tag}" in proc.stdout and f"--tag beatpass/{svc}:dev" in proc.stdout
    assert proc.stdout.count(f"REVISION={head}") == len(SERVICES)
    make = run(["make", "-n", "images"])
    assert "scripts/build_images.sh" in make.stdout


def test_a_release_needs_a_registry():
    proc = run(["scripts/build_images.sh"], env={**os.environ, "DRY_RUN": "1", "PUSH": "1", "REGISTRY": ""})
    assert proc.returncode == 2 and "PUSH=1 needs REGISTRY" in proc.stderr


def test_committed_release_is_the_placeholder_and_refused():
    expected = pin_images.render(
        pin_images.PLACEHOLDER_REGISTRY,
        pin_images.PLACEHOLDER_TAG,
        dict.fromkeys(SERVICES, pin_images.PLACEHOLDER_DIGEST),
    )
    assert pin_images.TARGET.read_text() == expected, "overlays/prod/release is generated by scripts/pin_images.py"
    proc = run([sys.executable, "scripts/pin_images.py", "--check"])
    assert proc.returncode == 1 and "still names placeholder images: run `make release" in proc.stderr


def test_pinned_release_renders_digests_and_release_named_jobs(tmp_path):
    copy = tmp_path / "deploy"
    shutil.copytree(ROOT / "deploy", copy, ignore=shutil.ignore_patterns("schemas", "tests"))
    digests = {s: "sha256:" + f"{i:x}" * 64 for i, s in enumerate(SERVICES, start=1)}
    target = copy / "k8s/overlays/prod/release/kustomization.yaml"
    proc = run(
        [
            sys.executable,
            "scripts/pin_images.py",
            "--registry",
            "reg.example/bp",
            "--tag",
            "abc123def456",
            "--output",
            str(target),
            *[f"{s}={d}" for s, d in digests.items()],
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert run([sys.executable, "scripts/pin_images.py", "--check", "--output", str(target)]).returncode == 0
    out = run(["kubectl", "kustomize", str(copy / "k8s/overlays/prod")])
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    images = {
        c["image"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"].get("initContainers", []) + d["spec"]["template"]["spec"]["containers"]
        if not c["image"].startswith("quay.io/")
    }
    assert images == {f"reg.example/bp/{s}@{d}" for s, d in digests.items()}
    jobs = {d["metadata"]["name"] for d in docs if d["kind"] == "Job" and d["metadata"]["namespace"] == "beatpass"}
    assert jobs == {f"beatpass-{s}-migrate-abc123def456" for s in ("upload", "fingerprint", "catalog")}


def test_pin_images_refuses_bad_input(tmp_path):
    base = [sys.executable, "scripts/pin_images.py", "--registry", "r/x", "--output", str(tmp_path / "k.yaml")]
    assert "are required" in run(base + ["--tag", "Bad_Tag", "upload=sha256:1"]).stderr
    proc = run(base + ["--tag", "t1", "upload=sha256:" + "a" * 64])
    assert proc.returncode != 0 and "missing ['validation', 'waveform', 'fingerprint', 'catalog']" in proc.stderr


def test_dev_overlay_runs_local_images():
    out = run(["kubectl", "kustomize", str(ROOT / "deploy/k8s/overlays/dev")])
    assert out.returncode == 0, out.stderr
    for d in yaml.safe_load_all(out.stdout):
        if d and d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            for c in pod.get("initContainers", []) + pod["containers"]:
                assert c["image"].endswith(":dev") and c["imagePullPolicy"] == "Never", (d["metadata"]["name"], c)


def test_dockerignore_keeps_what_the_dockerfile_copies():
    """The context leaves out local state and the built page bundle, never a COPY source."""
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert {".git", ".venv", "**/node_modules", "services/upload/src/beatpass_upload/static/upload.*"} <= set(patterns)
    sources = [
        src.replace("${SERVICE}", svc)
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for src in line.split()[1:-1]
        for svc in SERVICES
    ]
    assert sources
    for src in sources:
        assert not any(Path(src).match(p.removeprefix("**/")) for p in patterns), f"{src} is ignored"
