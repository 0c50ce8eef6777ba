"""A simulated cluster for playing docs/operations.md's walk-through offline.

Installed as `kubectl`, `helm`, `kind`, `make`, `git` and `curl` on the PATH of the guide's shell
blocks (tests/deploy/test_operations_guide.py). It keeps what a real cluster would know in a JSON
file (FAKE_CLUSTER_STATE): namespaces, the custom resource kinds the operators installed, Secrets
with their keys, what was applied. It refuses what a real cluster would refuse at that point: a
custom resource whose operator is not installed yet, an object in a namespace that does not
exist, a workload or operator resource whose Secret (or Secret key) does not exist yet, waiting
on a resource never applied, an operator installed before the one it needs, a helm chart without
a pinned version. `kubectl kustomize` renders for real; `make` checks the target exists and, for
images/release, does what they leave behind (loaded image names, pinned release digests).
Usage: fake_cluster.py TOOL ARGS...  (exit status and stderr like the tool's)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

# set by test_operations_guide.py's sandbox (defaults only for importing secret_refs)
STATE = Path(os.environ.get("FAKE_CLUSTER_STATE", "cluster.json"))
REPO = Path(os.environ.get("FAKE_REPO", "."))
KUBECTL = os.environ.get("FAKE_REAL_KUBECTL", "kubectl")
MAKE = os.environ.get("FAKE_REAL_MAKE", "make")
BUILTIN = {
    "Namespace",
    "ConfigMap",
    "Secret",
    "Service",
    "ServiceAccount",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
    "Pod",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Ingress",
    "IngressClass",
    "HorizontalPodAutoscaler",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolumeClaim",
}
# what each install of the guide provides: CRD kinds, the namespace it lives in, what it needs first
OPERATORS = {
    "jetstack/cert-manager": ({"Certificate", "Issuer", "ClusterIssuer"}, "cert-manager", set()),
    "ingress-nginx/ingress-nginx": (set(), "ingress-nginx", set()),
    "prometheus-community/kube-prometheus-stack": (
        {"ServiceMonitor", "PodMonitor", "PrometheusRule"},
        "monitoring",
        set(),
    ),
    "kedacore/keda": (
        {"ScaledObject", "ScaledJob", "TriggerAuthentication", "ClusterTriggerAuthentication"},
        "keda",
        set(),
    ),
    "minio-operator/operator": ({"Tenant"}, "minio-operator", set()),
    "rabbitmq/cluster-operator": ({"RabbitmqCluster"}, "rabbitmq-system", set()),
    "rabbitmq/messaging-topology-operator": (
        {"Vhost", "User", "Permission", "Queue", "Exchange", "Binding", "Policy"},
        "rabbitmq-system",
        {"Certificate", "RabbitmqCluster"},
    ),
    "cloudnative-pg/cloudnative-pg": (
        {"Cluster", "Pooler", "Database", "ScheduledBackup", "Backup"},
        "cnpg-system",
        set(),
    ),
    "cloudnative-pg/plugin-barman-cloud": ({"ObjectStore"}, "cnpg-system", {"Certificate", "Cluster"}),
}
DEPLOYMENTS_OF = {"cnpg-system": {"cnpg-controller-manager"}}


def load() -> dict:
    if STATE.exists():
        return json.loads(STATE.read_text())
    return {
        "namespaces": ["default", "kube-system", "kube-public"],
        "kinds": [],
        "secrets": {},
        "applied": {},
        "repos": [],
        "images": [],
        "log": [],
    }


def fail(message: str, code: int = 1):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def namespace_of(args: list[str]) -> tuple[str | None, list[str]]:
    out, ns, i = [], None, 0
    while i < len(args):
        a = args[i]
        if a in ("-n", "--namespace"):
            ns, i = args[i + 1], i + 2
            continue
        if a.startswith("--namespace="):
            ns = a.split("=", 1)[1]
        else:
            out.append(a)
        i += 1
    return ns, out


def install(state: dict, key: str) -> None:
    kinds, ns, needs = OPERATORS[key]
    missing = needs - set(state["kinds"])
    if missing:
        fail(f"{key}: needs {sorted(missing)} installed first")
    state["kinds"] = sorted(set(state["kinds"]) | kinds)
    if ns not in state["namespaces"]:
        state["namespaces"].append(ns)
    state["applied"].setdefault(ns, []).extend(f"Deployment/{d}" for d in DEPLOYMENTS_OF.get(ns, {"operator"}))
    state["applied"][ns].append("Deployment/barman-cloud" if "barman" in key else f"Deployment/{key.split('/')[-1]}")


def secret_refs(doc: dict) -> list[tuple[str, str | None]]:
    """(Secret name, key or None) a resource needs to exist before it can work."""
    refs: list[tuple[str, str | None]] = []
    kind, spec = doc["kind"], doc.get("spec", {})

    def walk(node):
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                refs.append((node["secretKeyRef"]["name"], node["secretKeyRef"]["key"]))
            if "secretName" in node and isinstance(node.get("secretName"), str) and kind in ("Deployment", "Job"):
                refs.append((node["secretName"], None))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    if kind in ("Deployment", "Job", "StatefulSet"):
        walk(spec["template"]["spec"])
    elif kind == "Tenant":
        refs.append((spec["configuration"]["name"], "config.env"))
        refs += [(u["name"], "CONSOLE_ACCESS_KEY") for u in spec.get("users", [])]
    elif kind == "Cluster":
        refs += [(r["passwordSecret"]["name"], "password") for r in spec.get("managed", {}).get("roles", [])]
    elif kind == "ObjectStore":
        creds = spec["configuration"].get("s3Credentials", {})
        refs += [(v["name"], v["key"]) for v in creds.values() if isinstance(v, dict)]
    elif kind == "User" and "importCredentialsSecret" in spec:
        refs += [
            (spec["importCredentialsSecret"]["name"], "username"),
            (spec["importCredentialsSecret"]["name"], "password"),
        ]
    elif kind == "TriggerAuthentication":
        refs += [(r["name"], r["key"]) for r in spec.get("secretTargetRef", [])]
    return refs


def apply_docs(state: dict, docs: list[dict], default_ns: str | None) -> None:
    for d in docs:  # the whole request is refused before anything is created, as kubectl does
        if d["kind"] not in BUILTIN and d["kind"] not in state["kinds"]:
            fail(
                f'resource mapping not found for name: "{d["metadata"]["name"]}" kind: "{d["kind"]}": '
                "ensure CRDs are installed first"
            )
    for d in docs:
        if d["kind"] == "Namespace" and d["metadata"]["name"] not in state["namespaces"]:
            state["namespaces"].append(d["metadata"]["name"])
    generated = {
        (d["metadata"].get("namespace", default_ns), d["metadata"]["name"]): set(
            (d.get("data") or {}) | (d.get("stringData") or {})
        )
        for d in docs
        if d["kind"] == "Secret"
    }
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind == "Namespace":
            continue
        ns = d["metadata"].get("namespace") or default_ns or "default"
        if ns not in state["namespaces"]:
            fail(f'namespaces "{ns}" not found')
        for secret, key in secret_refs(d):
            keys = generated.get((ns, secret))
            if keys is None and secret in state["secrets"].get(ns, {}):
                keys = set(state["secrets"][ns][secret]["keys"])
            if keys is None:
                fail(f"{kind}/{name} in {ns} needs Secret {secret}, which does not exist yet")
            if key is not None and key not in keys:
                fail(f"{kind}/{name} in {ns} needs key {key} of Secret {secret} (has {sorted(keys)})")
        state["applied"].setdefault(ns, []).append(f"{kind}/{name}")
        if kind == "Secret":
            state["secrets"].setdefault(ns, {})[name] = {"keys": sorted(generated[(ns, name)]), "type": d.get("type")}


def kubectl(state: dict, args: list[str]) -> None:
    ns, args = namespace_of(args)
    verb, rest = args[0], args[1:]
    if verb == "kustomize":
        sys.exit(subprocess.run([KUBECTL, "kustomize", *rest], cwd=REPO).returncode)
    if ns and ns not in state["namespaces"]:
        fail(f'namespaces "{ns}" not found')
    if verb == "apply":
        flags = [a for a in rest if a.startswith("--") and a not in ("--server-side",)]
        if flags:
            fail(f"unknown flags {flags}")
        if "-k" in rest:
            path = rest[rest.index("-k") + 1]
            proc = subprocess.run([KUBECTL, "kustomize", path], capture_output=True, text=True, cwd=REPO)
            if proc.returncode:
                fail(proc.stderr)
            apply_docs(state, [d for d in yaml.safe_load_all(proc.stdout) if d], ns)
        elif "-f" in rest:
            source = rest[rest.index("-f") + 1]
            if source.startswith("https://"):
                key = next((k for k in OPERATORS if f"/{k}/" in source), None)
                if key is None:
                    fail(f"{source}: not an install the guide's table lists")
                install(state, key)
            elif source == "-":
                apply_docs(state, [d for d in yaml.safe_load_all(sys.stdin.read()) if d], ns)
            else:
                apply_docs(state, [d for d in yaml.safe_load_all((REPO / source).read_text()) if d], ns)
        else:
            fail("apply needs -f or -k")
    elif verb == "create" and rest[:2] == ["secret", "generic"]:
        name, ns = rest[2], ns or "default"
        if name in state["secrets"].get(ns, {}):
            fail(f'secrets "{name}" already exists')
        keys, stype = [], None
        for a in rest[3:]:
            if a.startswith("--from-literal="):
                keys.append(a.split("=", 2)[1])
            elif a.startswith("--from-file="):
                key, _, path = a.split("=", 1)[1].partition("=")
                if not Path(path).is_file():
                    fail(f"{path}: no such file")
                keys.append(key)
            elif a.startswith("--type="):
                stype = a.split("=", 1)[1]
            else:
                fail(f"unexpected argument {a}")
        if stype == "kubernetes.io/basic-auth" and not {"username", "password"} <= set(keys):
            fail("basic-auth Secrets need username and password")
        state["secrets"].setdefault(ns, {})[name] = {"keys": keys, "type": stype}
    elif verb == "get" and rest and rest[0] == "secret":
        sys.exit(0 if rest[1] in state["secrets"].get(ns or "default", {}) else 1)
    elif verb in ("wait", "rollout", "delete", "scale"):
        words, skip = [], False
        for a in rest:
            if skip:
                skip = False
            elif a in ("-l", "--selector", "--timeout", "--for", "--replicas"):
                skip = True
            elif not a.startswith("-"):
                words.append(a)
        target = next((a for a in words if "/" in a and "=" not in a), None)
        if target:
            kind, name = target.split("/", 1)
            kind = kind.split(".")[0].lower()
            applied = [a.lower() for a in state["applied"].get(ns or "default", [])]
            if not any(
                a == f"{kind}/{name}".lower() or (a.startswith(kind) and a.endswith(f"/{name}")) for a in applied
            ):
                fail(f"{target} not found in namespace {ns}")
        elif verb == "delete" and len(words) >= 2:
            applied = [a.lower() for a in state["applied"].get(ns or "default", [])]
            if f"{words[0]}/{words[1]}".lower() not in applied:
                fail(f"{words[0]} {words[1]} not found")
        elif "-l" not in rest and not any(a.startswith("--selector") for a in rest):
            fail(f"{verb} of what?")
    elif verb in ("exec", "logs", "get", "describe", "annotate", "label", "cp", "port-forward"):
        pass
    else:
        fail(f"the simulation does not know `kubectl {verb}`")


def helm(state: dict, args: list[str]) -> None:
    if args[:2] == ["repo", "add"]:
        state["repos"].append(args[2])
        return
    if args[:2] != ["upgrade", "--install"]:
        fail(f"the simulation does not know `helm {' '.join(args[:2])}`")
    ns, rest = namespace_of(args[2:])
    chart = rest[1]
    if chart.split("/")[0] not in state["repos"]:
        fail(f"repo {chart.split('/')[0]} not found")
    if "--version" not in rest:
        fail(f"{chart}: pin --version")
    if ns not in state["namespaces"]:
        if "--create-namespace" not in rest:
            fail(f'namespaces "{ns}" not found')
        state["namespaces"].append(ns)
    install(state, chart)


def make(state: dict, args: list[str]) -> None:
    target = args[0]
    proc = subprocess.run([MAKE, "-n", *args], capture_output=True, text=True, cwd=REPO)
    if proc.returncode:
        fail(proc.stderr)
    if target == "images":
        state["images"] += [f"beatpass/{s}:dev" for s in ("upload", "validation", "waveform", "fingerprint", "catalog")]
    elif target == "release":
        registry = next(a.split("=", 1)[1] for a in args if a.startswith("REGISTRY="))
        digests = [
            f"{s}=sha256:{i:064x}"
            for i, s in enumerate(("upload", "validation", "waveform", "fingerprint", "catalog"), 1)
        ]
        subprocess.run(
            [sys.executable, "scripts/pin_images.py", "--registry", registry, "--tag", "walkthrough", *digests],
            check=True,
            cwd=REPO,
        )


def kind(state: dict, args: list[str]) -> None:
    if args[:2] == ["load", "docker-image"] and args[2] not in state["images"]:
        fail(f"image {args[2]} not present locally: build it first")


def curl(state: dict, args: list[str]) -> None:
    url = next(a for a in args if a.startswith("http"))
    host = re.search(r"^host=(\S+)$", (REPO / "deploy/k8s/overlays/prod/app/site.env").read_text(), re.M).group(1)
    if f"https://{host}/" not in url:
        fail(f"{url}: not the site's host {host}")
    if url.endswith("/metrics") and "-w" in args:
        print("404")


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    state = load()
    state["log"].append([tool, *args])
    {
        "kubectl": kubectl,
        "helm": helm,
        "make": make,
        "kind": kind,
        "curl": curl,
        "git": lambda s, a: print("0123456789ab") if a[:1] == ["rev-parse"] else None,
    }[tool](state, args)
    STATE.write_text(json.dumps(state))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
