"""Shared pieces of the offline deploy checks: tools, rendered overlays (tests/deploy/*.py import it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "k8s" / "overlays").iterdir() if (p / "kustomization.yaml").exists())
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"
APP_NS, DATA_NS = "beatpass", "beatpass-data"
SERVICES = ("upload", "validation", "waveform", "fingerprint", "catalog")
WORKERS = SERVICES[1:]
WITH_DATABASE = ("upload", "fingerprint", "catalog")
WITH_STORAGE = ("upload", "validation", "waveform", "fingerprint")

sys.path.insert(0, str(ROOT / "libs" / "common" / "src"))


def _tools_present() -> bool:
    try:
        import jsonschema  # noqa: F401
        import kubernetes_validate  # noqa: F401
    except ImportError:
        return False
    return bool(
        shutil.which("kubectl") and shutil.which("promtool") and shutil.which("prometheus") and CHECKOV.exists()
    )


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


@lru_cache
def render_path(path: str) -> str:
    proc = run(["kubectl", "kustomize", path])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def rendered_text(overlay: str) -> str:
    return render_path(str(DEPLOY / "k8s" / "overlays" / overlay))


def rendered(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def of_kind(overlay: str, kind: str, namespace: str | None = None) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d
        for d in rendered(overlay)
        if d["kind"] == kind and (namespace is None or d["metadata"].get("namespace") == namespace)
    }


def pod_specs(overlay: str):
    """(kind/name, namespace, pod spec) of every workload of the overlay."""
    for d in rendered(overlay):
        if d["kind"] in ("Deployment", "Job", "StatefulSet"):
            yield f"{d['kind']}/{d['metadata']['name']}", d["metadata"]["namespace"], d["spec"]["template"]["spec"]


def containers(pod: dict) -> list[dict]:
    return pod.get("initContainers", []) + pod["containers"]
