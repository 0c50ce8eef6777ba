"""deploy/ validated offline, one check per test (scripts/check_deploy.sh runs just these).

Renders every kustomize overlay with kubectl, validates built-in kinds with kubernetes-validate
(strict) and custom resources against the schemas vendored in deploy/schemas, runs checkov once
per overlay, checks the platform's own rules (probes, non-root, grace periods, scaling on the
real queues, secrets by reference, settings that exist), runs promtool on the alert rules and
their unit tests, and checks that the dashboard and the alerts query only known metric names,
which the services (started in embedded mode by live_metrics.py) really export.
Tools missing on the machine are installed by scripts/check_deploy.sh --install-only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS = sorted(p.name for p in (DEPLOY / "k8s" / "overlays").iterdir() if (p / "kustomization.yaml").exists())
MONITORING = DEPLOY / "monitoring"
RULES_FILE = MONITORING / "rules" / "beatpass.rules.yml"
DASHBOARD = MONITORING / "grafana" / "beatpass.json"
SCHEMAS = DEPLOY / "schemas"
OPERATIONS = ROOT / "docs" / "operations.md"
VENV = ROOT / ".venv"
CHECKOV = VENV / "checkov" / "bin" / "checkov"
K8S_VERSION = "1.32.0"  # the Kubernetes release the manifests target (Debian's kubectl is 1.32)

SERVICES = ("upload", "validation", "waveform", "fingerprint", "catalog")
WORKERS = SERVICES[1:]

sys.path.insert(0, str(ROOT / "libs" / "common" / "src"))
from beatpass_common.bus.topology import QUEUES  # noqa: E402
from beatpass_common.config import Settings  # noqa: E402


def _tools_present() -> bool:
    try:
        import jsonschema  # noqa: F401
        import kubernetes_validate  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which("kubectl") and shutil.which("promtool") and CHECKOV.exists())


@pytest.fixture(scope="session", autouse=True)
def deploy_tools():
    if not _tools_present():
        subprocess.run([str(ROOT / "scripts" / "check_deploy.sh"), "--install-only"], check=True, cwd=ROOT)
    assert _tools_present(), "scripts/check_deploy.sh --install-only did not provide kubectl, promtool, checkov, kubernetes-validate"


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, **kw)


@lru_cache
def rendered_text(overlay: str) -> str:
    proc = run(["kubectl", "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def rendered(overlay: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(rendered_text(overlay)) if d]


def of_kind(overlay: str, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in rendered(overlay) if d["kind"] == kind}


def is_custom(doc: dict) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


overlays = pytest.mark.parametrize("overlay", OVERLAYS)


# ---------------------------------------------------------------- rendering and schemas

@overlays
def test_overlay_renders(overlay):
    kinds = {d["kind"] for d in rendered(overlay)}
    for kind in ("Deployment", "Service", "Ingress", "NetworkPolicy", "PodDisruptionBudget", "ConfigMap", "Job",
                 "HorizontalPodAutoscaler", "ScaledObject", "RabbitmqCluster", "Tenant", "Cluster",
                 "ServiceMonitor", "PrometheusRule"):
        assert kind in kinds, f"{overlay} renders no {kind}"
    namespaces = {d["metadata"].get("namespace") for d in rendered(overlay) if d["kind"] != "Namespace"}
    assert len(namespaces) == 1 and None not in namespaces, namespaces


@overlays
def test_builtin_kinds_validate_strict(overlay):
    import kubernetes_validate as kv

    problems, checked = [], 0
    for doc in rendered(overlay):
        if is_custom(doc):
            continue
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
            checked += 1
        except kv.ValidationError as e:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
        except kv.SchemaNotFoundError:
            problems.append(f"{doc['kind']} ({doc['apiVersion']}): no Kubernetes {K8S_VERSION} schema")
    assert not problems, "\n".join(problems)
    assert checked > 30


def test_strict_validation_rejects_unknown_fields():
    """The validators above would catch a misplaced field (guards against a silently lax setup)."""
    import kubernetes_validate as kv

    deployment = next(iter(of_kind(OVERLAYS[0], "Deployment").values()))
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)


def _schema_for(doc: dict) -> Path:
    group, _, version = doc["apiVersion"].rpartition("/")
    return SCHEMAS / group / f"{doc['kind'].lower()}_{version}.json"


@overlays
def test_custom_resources_match_vendored_schemas(overlay):
    import jsonschema

    problems = []
    for doc in filter(is_custom, rendered(overlay)):
        path = _schema_for(doc)
        if not path.exists():
            problems.append(f"{doc['kind']} ({doc['apiVersion']}): no schema at {path.relative_to(ROOT)}")
            continue
        validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
        for e in validator.iter_errors(doc):
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    assert not problems, "\n".join(problems)


def test_vendored_schemas_are_valid_and_closed():
    import jsonschema

    paths = sorted(SCHEMAS.rglob("*.json"))
    assert len(paths) >= 9
    docs = {(d["apiVersion"], d["kind"]): d for ov in OVERLAYS for d in rendered(ov) if is_custom(d)}
    for path in paths:
        schema = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        sample = next((d for d in docs.values() if _schema_for(d) == path), None)
        assert sample is not None, f"{path.relative_to(ROOT)} is not used by any overlay"
        typo = json.loads(json.dumps(sample))
        typo.setdefault("spec", {})["replicaz"] = 1
        assert not jsonschema.Draft7Validator(schema).is_valid(typo), f"{path.name} accepts unknown spec fields"


# ---------------------------------------------------------------- security scan

@overlays
def test_checkov(overlay, tmp_path):
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered_text(overlay))
    proc = run([str(CHECKOV), "--file", str(manifest), "--framework", "kubernetes", "--output", "json",
                "--compact", "--skip-download"], env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=600)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no report (rc={proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in reports for c in r["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 100, "checkov checked suspiciously little"
    # every skip carries its reason next to it (checkov.io/skipN: CHECK=reason)
    for r in reports:
        for c in r["results"]["skipped_checks"]:
            assert (c.get("check_result", {}).get("suppress_comment") or "").strip(), f"{c['check_id']} skipped without a reason"


# ---------------------------------------------------------------- the platform's own rules

SETTINGS_FIELDS = set(Settings.model_fields)
# read by prometheus_client itself (gunicorn's multiprocess mode), not by Settings
EXTRA_ENV = {"PROMETHEUS_MULTIPROC_DIR", "MALLOC_ARENA_MAX"}


def _env_name_ok(name: str) -> bool:
    if name in EXTRA_ENV:
        return True
    return name.startswith("BEATPASS_") and name.removeprefix("BEATPASS_").lower() in SETTINGS_FIELDS


@overlays
def test_configuration_names_exist_in_settings(overlay):
    for cm in of_kind(overlay, "ConfigMap").values():
        if cm["metadata"]["name"] != "beatpass-config":
            continue
        unknown = [k for k in cm["data"] if not _env_name_ok(k)]
        assert not unknown, f"beatpass-config sets variables Settings does not read: {unknown}"
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(overlay, kind).items():
            for c in doc["spec"]["template"]["spec"]["containers"]:
                unknown = [e["name"] for e in c.get("env", []) if not _env_name_ok(e["name"])]
                assert not unknown, f"{name}: unknown variables {unknown}"


SECRET_VARS = {"BEATPASS_BUS_URL", "BEATPASS_STORAGE_URL", "BEATPASS_JWT_SECRET", "BEATPASS_JWT_PUBLIC_KEY",
               "BEATPASS_URL_SIGNING_SECRET", "BEATPASS_INTERNAL_API_SECRET",
               "BEATPASS_UPLOAD_DATABASE_URL", "BEATPASS_FINGERPRINT_DATABASE_URL", "BEATPASS_CATALOG_DATABASE_URL"}


def test_operations_guide_names_real_settings():
    mentioned = set(re.findall(r"\bBEATPASS_[A-Z0-9_]+[A-Z0-9]\b", OPERATIONS.read_text()))
    unknown = [v for v in sorted(mentioned) if not _env_name_ok(v) and not re.fullmatch(r"BEATPASS_[A-Z]+_DATABASE_URL", v)]
    assert not unknown, f"docs/operations.md mentions settings that do not exist: {unknown}"


@overlays
def test_secrets_are_references(overlay):
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(overlay, kind).items():
            for c in doc["spec"]["template"]["spec"]["containers"]:
                for e in c.get("env", []):
                    if e["name"] in SECRET_VARS:
                        assert "secretKeyRef" in e.get("valueFrom", {}), f"{name}: {e['name']} must come from a Secret"
    cm = of_kind(overlay, "ConfigMap")["beatpass-config"]
    assert not SECRET_VARS & set(cm["data"]), "secrets in the ConfigMap"
    if overlay == "prod":
        assert not of_kind(overlay, "Secret"), "prod must not carry Secrets: the platform provides them"


# Keys a service refuses to start without outside dev mode (Settings.require_secrets): the
# manifests require them too, so a missing Secret stops the rollout (CreateContainerConfigError)
# instead of a gateway that would trust a built-in key.
REQUIRED_KEYS = {
    "beatpass-upload": [("BEATPASS_JWT_PUBLIC_KEY", "BEATPASS_JWT_SECRET"), ("BEATPASS_URL_SIGNING_SECRET",),
                        ("BEATPASS_INTERNAL_API_SECRET",)],
    "beatpass-catalog": [("BEATPASS_INTERNAL_API_SECRET",)],
}


@overlays
def test_keys_are_required_secrets(overlay):
    deployments = of_kind(overlay, "Deployment")
    for name, needed in REQUIRED_KEYS.items():
        env = {e["name"]: e for c in deployments[name]["spec"]["template"]["spec"]["containers"]
               for e in c.get("env", [])}
        for choices in needed:
            present = [env[v] for v in choices if v in env]
            assert present, f"{name}: none of {choices}"
            for e in present:
                ref = e["valueFrom"]["secretKeyRef"]
                assert ref.get("optional", False) is False, f"{name}: {e['name']} must not be optional"
    prod_jwt = {e["name"] for c in of_kind("prod", "Deployment")["beatpass-upload"]["spec"]["template"]["spec"][
        "containers"] for e in c.get("env", []) if e["name"].startswith("BEATPASS_JWT")}
    assert prod_jwt == {"BEATPASS_JWT_PUBLIC_KEY"}, "prod verifies the identity provider's RS256 tokens"
    if overlay == "dev":
        generated = {d["metadata"]["name"] for d in of_kind(overlay, "Secret").values()}
        assert {"beatpass-jwt", "beatpass-url-signing", "beatpass-internal-api"} <= generated


@overlays
def test_workloads_are_hardened_and_probed(overlay):
    grace = Settings().shutdown_grace_s
    deployments = of_kind(overlay, "Deployment")
    assert set(deployments) == {f"beatpass-{s}" for s in SERVICES}
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(overlay, kind).items():
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True, name
            assert pod["automountServiceAccountToken"] is False, name
            volumes = {v["name"]: v for v in pod.get("volumes", [])}
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
                assert sc["capabilities"]["drop"] == ["ALL"], name
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name}: {part}"
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
                assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"
                multiproc = next((e["value"] for e in c.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"), None)
                if multiproc:
                    assert "emptyDir" in volumes[mounts[multiproc]], f"{name}: PROMETHEUS_MULTIPROC_DIR must be an emptyDir"
    for name, doc in deployments.items():
        pod = doc["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace + 10, f"{name}: the pod grace period must outlast the drain grace"
        (c,) = pod["containers"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert any(p["containerPort"] == 8080 for p in c["ports"]), name
        assert "replicas" not in doc["spec"], f"{name}: replicas belong to the autoscaler"
    upload_env = {e["name"] for e in deployments["beatpass-upload"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "PROMETHEUS_MULTIPROC_DIR" in upload_env, "the gateway runs under gunicorn: multiprocess metrics"


@overlays
def test_every_service_has_service_pdb_and_monitor(overlay):
    names = {f"beatpass-{s}" for s in SERVICES}
    assert names <= set(of_kind(overlay, "Service"))
    assert names <= set(of_kind(overlay, "PodDisruptionBudget"))
    monitors = {**of_kind(overlay, "ServiceMonitor"), **of_kind(overlay, "PodMonitor")}
    assert names <= set(monitors)
    for svc in SERVICES:
        mon = monitors[f"beatpass-{svc}"]
        assert mon["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == f"beatpass-{svc}"
    for dep in ("beatpass-rabbitmq", "beatpass-minio", "beatpass-postgres"):
        assert dep in monitors, f"no monitor for {dep} (its Down alert would always fire)"


@overlays
def test_migration_jobs_for_services_with_a_database(overlay):
    with_db = {f.removesuffix("_database_url") for f in SETTINGS_FIELDS if f.endswith("_database_url")}
    assert with_db == {"upload", "fingerprint", "catalog"}
    jobs = of_kind(overlay, "Job")
    for svc in with_db:
        job = jobs[f"beatpass-{svc}-migrate"]
        (c,) = job["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["python", "-m", f"beatpass_{svc}", "migrate"]
        assert any(e["name"] == f"BEATPASS_{svc.upper()}_DATABASE_URL" for e in c["env"])
    assert len(jobs) == len(with_db)


@pytest.mark.parametrize("svc", ["upload", "fingerprint", "catalog"])
def test_migration_command_runs(svc, tmp_path):
    """What the migration Job runs: `python -m beatpass_<svc> migrate` upgrades the schema and exits."""
    import sqlite3

    db = tmp_path / f"{svc}.db"
    env = {**os.environ, f"BEATPASS_{svc.upper()}_DATABASE_URL": f"sqlite:///{db}", "BEATPASS_VAR_DIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = run([sys.executable, "-m", f"beatpass_{svc}", "migrate"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    assert "alembic_version" in tables and len(tables) > 1, tables


@overlays
def test_scaling_follows_the_queues(overlay):
    hpas = of_kind(overlay, "HorizontalPodAutoscaler")
    assert set(hpas) == {"beatpass-upload"}
    scaled = of_kind(overlay, "ScaledObject")
    assert set(scaled) == {f"beatpass-{s}" for s in WORKERS}
    queues_of: dict[str, set[str]] = {}
    for q in QUEUES:
        queues_of.setdefault(q.service, set()).add(q.name)
    deployments = of_kind(overlay, "Deployment")
    for svc in WORKERS:
        so = scaled[f"beatpass-{svc}"]["spec"]
        assert so["scaleTargetRef"]["name"] == f"beatpass-{svc}"
        assert so["minReplicaCount"] >= 1, "workers also serve health and metrics: never scale to zero"
        assert {t["metadata"]["queueName"] for t in so["triggers"]} == queues_of[svc]  # one trigger per queue
        env = {e["name"] for e in deployments[f"beatpass-{svc}"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        for trigger in so["triggers"]:
            assert trigger["type"] == "rabbitmq" and trigger["metadata"]["hostFromEnv"] in env
    if overlay == "dev":
        assert hpas["beatpass-upload"]["spec"]["maxReplicas"] == 1
        assert all(s["spec"]["maxReplicaCount"] == 1 for s in scaled.values())
        assert of_kind(overlay, "RabbitmqCluster")["beatpass-rabbitmq"]["spec"]["replicas"] == 1
        assert of_kind(overlay, "Cluster")["beatpass-postgres"]["spec"]["instances"] == 1
        assert of_kind(overlay, "Tenant")["beatpass-minio"]["spec"]["pools"][0]["servers"] == 1


def _selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@overlays
def test_network_policies(overlay):
    policies = of_kind(overlay, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"} and not deny.get("ingress")
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in of_kind(overlay, "Deployment").items()}
    # ingress from outside the namespace (other than Prometheus) reaches the gateway only
    for pname, p in policies.items():
        for rule in p["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                ns = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                if ns in (None, "monitoring"):
                    continue
                targets = [n for n, labels in pods.items() if _selects(p["spec"]["podSelector"], labels)]
                assert targets in ([], ["beatpass-upload"]), f"{pname} opens {targets} to namespace {ns}"
    egress_ports = {port["port"] for rule in policies["beatpass-egress-dependencies"]["spec"]["egress"] for port in rule["ports"]}
    assert egress_ports == {5672, 9000, 5432}
    assert all(_selects(policies["beatpass-egress-dependencies"]["spec"]["podSelector"], labels) for labels in pods.values())
    catalog_from = policies["beatpass-catalog-ingress"]["spec"]["ingress"][0]["from"]
    assert catalog_from == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "beatpass-upload"}}}]


@overlays
def test_only_the_gateway_is_exposed(overlay):
    ingresses = of_kind(overlay, "Ingress")
    assert set(ingresses) == {"beatpass-upload"}
    ing = ingresses["beatpass-upload"]
    backends = {p["backend"]["service"]["name"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {"beatpass-upload"}
    body = ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m") and int(body[:-1]) * 1024**2 >= Settings().max_upload_bytes
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in of_kind(overlay, "Service").values())


# ---------------------------------------------------------------- alerts

def _alerts() -> dict[str, dict]:
    groups = yaml.safe_load(RULES_FILE.read_text())["groups"]
    return {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}


def test_promtool_check_rules():
    proc = run(["promtool", "check", "rules", str(RULES_FILE)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules():
    tests = sorted((MONITORING / "tests").glob("*.yaml"))
    assert tests
    proc = run(["promtool", "test", "rules", *map(str, tests)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_and_has_a_runbook():
    tested = set()
    for path in (MONITORING / "tests").glob("*.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for t in case.get("alert_rule_test", []):
                if t.get("exp_alerts"):
                    tested.add(t["alertname"])
    alerts = _alerts()
    assert set(alerts) - tested == set(), "alerts without a firing unit test"
    headings = {m.group(1).lower() for m in re.finditer(r"^#+ +(\w+)\s*$", OPERATIONS.read_text(), re.M)}
    for name, rule in alerts.items():
        ann = rule["annotations"]
        assert ann.get("summary") and ann.get("description"), name
        assert ann.get("runbook_url") == f"docs/operations.md#{name.lower()}", name
        assert name.lower() in headings, f"docs/operations.md has no runbook section '{name}'"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name


def test_prometheusrule_matches_plain_rules_file():
    proc = run([sys.executable, str(MONITORING / "sync_prometheusrule.py"), "--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cr = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert cr["spec"] == yaml.safe_load(RULES_FILE.read_text())


# ---------------------------------------------------------------- metric names

def known_metrics(*, for_alerts: bool) -> set[str]:
    names = set()
    for line in (MONITORING / "metric-names.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, kind, *scope = line.split()
        if scope == ["alerts"] and not for_alerts:
            continue
        for svc in SERVICES if "<svc>" in name else ("",):
            full = name.replace("<svc>", svc)
            names.add(full)
            if kind == "histogram":
                names |= {f"{full}_bucket", f"{full}_sum", f"{full}_count"}
    return names


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end():].lstrip().startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(m.group(0))
    return names


def test_metric_name_parser():
    assert metric_names('sum by (le) (rate(a_b_bucket{x="y(z)"}[5m])) / on(job) group_left(k) c > 0.5 and d') == {"a_b_bucket", "c", "d"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))") == {"h_bucket"}


def _dashboard_targets(node):
    if isinstance(node, dict):
        if "expr" in node:
            yield node["expr"]
        for v in node.values():
            yield from _dashboard_targets(v)
    elif isinstance(node, list):
        for v in node:
            yield from _dashboard_targets(v)


def test_dashboard_parses_and_queries_known_metrics():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] and dash["title"]
    exprs = list(_dashboard_targets(dash["panels"]))
    assert len(exprs) > 20
    known = known_metrics(for_alerts=False)
    used = set().union(*(metric_names(e) for e in exprs))
    assert used - known == set(), f"the dashboard queries unknown metrics: {sorted(used - known)}"
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("uploads", "bytes", "saves", "consumed", "failed", "duration", "queue depth", "status"):
        assert topic in titles, f"no panel about {topic}"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for p in dash["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"panels overlap: {p['title']} and {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
        if p["type"] != "row":
            # the datasource variable lets one JSON work in compose (provisioned) and kube-prometheus-stack
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"]), p["title"]


def test_alerts_query_known_metrics():
    known = known_metrics(for_alerts=True)
    for name, rule in _alerts().items():
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{name} queries unknown metrics {unknown}"


def test_known_metrics_are_exported_by_the_services():
    """metric-names.txt (and so the dashboard and alerts) against the services' real /metrics."""
    proc = run([sys.executable, str(Path(__file__).with_name("live_metrics.py"))], timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    exported = set().union(*json.loads(proc.stdout).values())
    ours = {n for n in known_metrics(for_alerts=True) if n.startswith("beatpass_")}
    # histograms declare their base name; _bucket/_sum/_count samples appear once observed
    missing = sorted(n for n in ours if n not in exported and re.sub(r"_(bucket|sum|count)$", "", n) not in exported)
    assert not missing, f"listed in deploy/monitoring/metric-names.txt but not exported: {missing}"


def test_grafana_dashboard_configmap_is_the_dashboard():
    cm = of_kind(OVERLAYS[0], "ConfigMap")["beatpass-grafana-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["beatpass.json"]) == json.loads(DASHBOARD.read_text())


# ---------------------------------------------------------------- compose

def test_compose_runs_the_whole_system():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for dep in ("rabbitmq", "minio", "postgres", "prometheus", "grafana"):
        assert dep in services
    for svc in SERVICES:
        s = services[svc]
        assert s["build"] == {"context": "..", "dockerfile": f"services/{svc}/Dockerfile"}
        assert s["read_only"] is True and "/tmp" in s["tmpfs"]
        assert "/readyz" in " ".join(s["healthcheck"]["test"])
        for var in s["environment"]:
            assert _env_name_ok(var), f"compose {svc}: {var}"
    for svc in ("upload", "fingerprint", "catalog"):
        assert services[f"{svc}-migrate"]["command"] == ["python", "-m", f"beatpass_{svc}", "migrate"]
        assert services[svc]["depends_on"][f"{svc}-migrate"]["condition"] == "service_completed_successfully"
    plugins = (DEPLOY / "compose" / "rabbitmq" / "enabled_plugins").read_text()
    assert "rabbitmq_prometheus" in plugins and "rabbitmq_management" in plugins
    # every bind mount exists in the repository
    for name, s in services.items():
        for vol in s.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("."):
                assert (DEPLOY / src).exists(), f"compose {name}: {src} missing"


def test_compose_prometheus_scrapes_every_service():
    proc = run(["promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for svc in SERVICES:
        assert jobs[f"beatpass-{svc}"]["static_configs"][0]["targets"] == [f"{svc}:8080"]
    for dep in ("beatpass-rabbitmq", "beatpass-minio", "beatpass-postgres"):
        assert dep in jobs, f"{dep}: its Down alert would always fire in compose"
