"""deploy/k8s validated offline, one check per test (scripts/check_deploy.sh runs tests/deploy).

Renders every overlay with kubectl, validates built-in kinds with kubernetes-validate (strict)
and custom resources against the schemas vendored in deploy/schemas, runs checkov once per
overlay, and checks the platform's own rules: two namespaces (services under the `restricted`
Pod Security level), probes and metrics on the ops port the Ingress never routes, one
least-privilege user per service made by the operators, migrations once per release, pool sizes
that fit the pooler and PostgreSQL, off-site backups, default-deny NetworkPolicies with closed
egress, TLS on the prod Ingress. Tools missing on the machine are installed by
scripts/check_deploy.sh --install-only.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import (
    APP_NS,
    CHECKOV,
    DATA_NS,
    DEPLOY,
    OVERLAYS,
    ROOT,
    SERVICES,
    WITH_DATABASE,
    WITH_STORAGE,
    WORKERS,
    containers,
    of_kind,
    pod_specs,
    render_path,
    rendered,
    rendered_text,
    run,
)

from beatpass_common.bus.topology import QUEUES, all_queues
from beatpass_common.config import Settings

SCHEMAS = DEPLOY / "schemas"
OPERATIONS = ROOT / "docs" / "operations.md"
K8S_VERSION = "1.32.0"  # the Kubernetes release the manifests target (Debian's kubectl is 1.32)
OPS_PORT, API_PORT = 9090, 8080

overlays = pytest.mark.parametrize("overlay", OVERLAYS)


def is_custom(doc: dict) -> bool:
    group = doc["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


# ---------------------------------------------------------------- rendering and schemas

APP_KINDS = {
    "Deployment",
    "Service",
    "Ingress",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "ConfigMap",
    "HorizontalPodAutoscaler",
    "ScaledObject",
    "TriggerAuthentication",
    "ServiceMonitor",
    "PrometheusRule",
    "Vhost",
    "User",
    "Permission",
}
DATA_KINDS = {"RabbitmqCluster", "Tenant", "Cluster", "Pooler", "Database", "NetworkPolicy", "PodMonitor"}


@overlays
def test_overlay_renders_two_namespaces(overlay):
    by_ns: dict[str | None, set[str]] = {}
    for d in rendered(overlay):
        by_ns.setdefault(d["metadata"].get("namespace"), set()).add(d["kind"])
    assert set(by_ns) == {None, APP_NS, DATA_NS}, set(by_ns)
    assert by_ns[None] == {"Namespace"}
    assert by_ns[APP_NS] >= APP_KINDS, APP_KINDS - by_ns[APP_NS]
    assert by_ns[DATA_NS] >= DATA_KINDS, DATA_KINDS - by_ns[DATA_NS]
    assert not {"RabbitmqCluster", "Tenant", "Cluster", "Pooler"} & by_ns[APP_NS], (
        "dependencies stay out of the app namespace"
    )
    assert not {"Deployment"} & by_ns[DATA_NS]


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


def _validate_custom(docs: list[dict]) -> list[str]:
    import jsonschema

    problems = []
    for doc in filter(is_custom, docs):
        path = _schema_for(doc)
        if not path.exists():
            problems.append(f"{doc['kind']} ({doc['apiVersion']}): no schema at {path.relative_to(ROOT)}")
            continue
        validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
        for e in validator.iter_errors(doc):
            problems.append(
                f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.absolute_path))}: {e.message[:300]}"
            )
    return problems


@overlays
def test_custom_resources_match_vendored_schemas(overlay):
    problems = _validate_custom(rendered(overlay))
    assert not problems, "\n".join(problems)


def test_vendored_schemas_are_valid_and_closed():
    import jsonschema

    paths = sorted(SCHEMAS.rglob("*.json"))
    assert len(paths) >= 17
    docs = {(d["apiVersion"], d["kind"]): d for ov in OVERLAYS for d in rendered(ov) if is_custom(d)}
    docs |= {(d["apiVersion"], d["kind"]): d for d in _restore_docs() if is_custom(d)}
    for path in paths:
        schema = json.loads(path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        sample = next((d for d in docs.values() if _schema_for(d) == path), None)
        assert sample is not None, f"{path.relative_to(ROOT)} is not used by any overlay"
        typo = json.loads(json.dumps(sample))
        typo.setdefault("spec", {})["replicaz"] = 1
        assert not jsonschema.Draft7Validator(schema).is_valid(typo), f"{path.name} accepts unknown spec fields"


# ---------------------------------------------------------------- security scan


def _checkov(manifest: Path, framework: str = "kubernetes") -> list[dict]:
    proc = run(
        [
            str(CHECKOV),
            "--file",
            str(manifest),
            "--framework",
            framework,
            "--output",
            "json",
            "--compact",
            "--skip-download",
        ],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=600,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov printed no report (rc={proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    return report if isinstance(report, list) else [report]


@overlays
def test_checkov(overlay, tmp_path):
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered_text(overlay))
    reports = _checkov(manifest)
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for r in reports for c in r["results"]["failed_checks"]
    ]
    assert not failed, "\n".join(failed)
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 100, "checkov checked suspiciously little"
    # every skip carries its reason next to it (checkov.io/skipN: CHECK=reason)
    for r in reports:
        for c in r["results"]["skipped_checks"]:
            assert (c.get("check_result", {}).get("suppress_comment") or "").strip(), (
                f"{c['check_id']} skipped without a reason"
            )


# ---------------------------------------------------------------- settings and secrets

SETTINGS_FIELDS = set(Settings.model_fields)
# read by prometheus_client itself (gunicorn's multiprocess mode), not by Settings
EXTRA_ENV = {"PROMETHEUS_MULTIPROC_DIR", "MALLOC_ARENA_MAX"}


def _env_name_ok(name: str) -> bool:
    if name in EXTRA_ENV:
        return True
    return name.startswith("BEATPASS_") and name.removeprefix("BEATPASS_").lower() in SETTINGS_FIELDS


@overlays
def test_configuration_names_exist_in_settings(overlay):
    cm = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]
    unknown = [k for k in cm["data"] if not _env_name_ok(k)]
    assert not unknown, f"beatpass-config sets variables Settings does not read: {unknown}"
    for name, ns, pod in pod_specs(overlay):
        if ns != APP_NS:
            continue
        for c in containers(pod):
            unknown = [e["name"] for e in c.get("env", []) if not _env_name_ok(e["name"])]
            assert not unknown, f"{name}: unknown variables {unknown}"


def test_operations_guide_names_real_settings():
    mentioned = set(re.findall(r"\bBEATPASS_[A-Z0-9_]+[A-Z0-9]\b", OPERATIONS.read_text()))
    unknown = [
        v for v in sorted(mentioned) if not _env_name_ok(v) and not re.fullmatch(r"BEATPASS_[A-Z]+_DATABASE_URL", v)
    ]
    assert not unknown, f"docs/operations.md mentions settings that do not exist: {unknown}"


SECRET_VARS = {
    "BEATPASS_BUS_USERNAME",
    "BEATPASS_BUS_PASSWORD",
    "BEATPASS_STORAGE_ACCESS_KEY",
    "BEATPASS_STORAGE_SECRET_KEY",
    "BEATPASS_DATABASE_USERNAME",
    "BEATPASS_DATABASE_PASSWORD",
    "BEATPASS_JWT_SECRET",
    "BEATPASS_JWT_PUBLIC_KEY",
    "BEATPASS_URL_SIGNING_SECRET",
    "BEATPASS_INTERNAL_API_SECRET",
}


@overlays
def test_secrets_are_references_and_urls_carry_none(overlay):
    for name, _ns, pod in pod_specs(overlay):
        for c in containers(pod):
            for e in c.get("env", []):
                if e["name"] in SECRET_VARS:
                    assert "secretKeyRef" in e.get("valueFrom", {}), f"{name}: {e['name']} must come from a Secret"
                if "URL" in e["name"] and "value" in e:
                    assert "@" not in e["value"], f"{name}: {e['name']} carries credentials"
    cm = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]
    assert not SECRET_VARS & set(cm["data"]), "secrets in the ConfigMap"
    assert not [k for k, v in cm["data"].items() if "URL" in k and "@" in v], "credentials in a URL of the ConfigMap"
    if overlay == "prod":
        assert not of_kind(overlay, "Secret"), "prod must not carry Secrets: the platform provides them"


def _secret_refs(pod: dict) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for c in containers(pod)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


@overlays
def test_one_user_per_service_made_by_the_operators(overlay):
    """Each service reads its own RabbitMQ user, MinIO user and PostgreSQL role, from the very
    Secrets the operators create them from: nothing to exec into a broker after apply."""
    deployments = of_kind(overlay, "Deployment", APP_NS)
    users = of_kind(overlay, "User", APP_NS)
    tenant = of_kind(overlay, "Tenant", DATA_NS)["beatpass-minio"]
    roles = {
        r["name"]: r["passwordSecret"]["name"]
        for r in of_kind(overlay, "Cluster", DATA_NS)["beatpass-postgres"]["spec"]["managed"]["roles"]
    }
    tenant_users = {u["name"] for u in tenant["spec"]["users"]}
    for svc in SERVICES:
        refs = _secret_refs(deployments[f"beatpass-{svc}"]["spec"]["template"]["spec"])
        assert refs["BEATPASS_BUS_USERNAME"] == (f"beatpass-rabbitmq-{svc}", "username")
        assert refs["BEATPASS_BUS_PASSWORD"] == (f"beatpass-rabbitmq-{svc}", "password")
        assert users[f"beatpass-{svc}"]["spec"]["importCredentialsSecret"]["name"] == f"beatpass-rabbitmq-{svc}"
        if svc in WITH_STORAGE:
            assert refs["BEATPASS_STORAGE_ACCESS_KEY"] == (f"beatpass-minio-{svc}", "CONSOLE_ACCESS_KEY")
            assert f"beatpass-minio-{svc}" in tenant_users
        else:
            assert "BEATPASS_STORAGE_ACCESS_KEY" not in refs, f"{svc} never touches objects: no MinIO user"
        if svc in WITH_DATABASE:
            assert refs["BEATPASS_DATABASE_PASSWORD"] == (f"beatpass-pg-{svc}", "password")
            assert roles[f"beatpass_{svc}"] == f"beatpass-pg-{svc}"
        else:
            assert "BEATPASS_DATABASE_PASSWORD" not in refs
    assert tenant_users == {f"beatpass-minio-{s}" for s in WITH_STORAGE}
    assert set(roles) == {f"beatpass_{s}" for s in WITH_DATABASE}
    assert of_kind(overlay, "User", APP_NS)["beatpass-keda"]["spec"]["tags"] == ["monitoring"]
    rabbit = of_kind(overlay, "RabbitmqCluster", DATA_NS)["beatpass-rabbitmq"]
    assert rabbit["metadata"]["annotations"]["rabbitmq.com/topology-allowed-namespaces"] == APP_NS
    for res in (
        *users.values(),
        *of_kind(overlay, "Permission", APP_NS).values(),
        *of_kind(overlay, "Vhost", APP_NS).values(),
    ):
        assert res["spec"]["rabbitmqClusterReference"] == {"name": "beatpass-rabbitmq", "namespace": DATA_NS}
    assert "default_user" not in rabbit["spec"]["rabbitmq"].get("additionalConfig", ""), "no shared application user"
    # the MinIO operator makes Tenant users consoleAdmin: the policy Job attaches each service's own
    policies = of_kind(overlay, "ConfigMap", DATA_NS)["beatpass-minio-policies"]["data"]
    assert {k.removesuffix(".json") for k in policies if k.endswith(".json")} == set(WITH_STORAGE)
    assert "mc admin policy detach beatpass consoleAdmin" in policies["apply.sh"]
    for svc in WITH_STORAGE:
        statements = json.loads(policies[f"{svc}.json"])["Statement"]
        actions = {a for s in statements for a in s["Action"]}
        assert not any(a.endswith("*") or a.startswith("admin:") for a in actions), f"{svc}: {actions}"


def _queue_names() -> set[str]:
    return {q.name for q in all_queues()} | {f"{q.name}.wait.1000ms" for q in QUEUES}


@overlays
def test_bus_permissions_follow_the_topology(overlay):
    """Every service may declare, bind, publish to and read the whole topology (all_queues, the
    three exchanges: RabbitMQ requires read on a queue declared with a dead-letter exchange, and
    every service declares every queue) and nothing else; KEDA's user has no AMQP rights."""
    perms = of_kind(overlay, "Permission", APP_NS)
    names = _queue_names() | {"beatpass.events", "beatpass.retry", "beatpass.dead"}
    for svc in SERVICES:
        p = perms[f"beatpass-{svc}"]["spec"]
        assert p["vhost"] == "beatpass" and p["userReference"] == {"name": f"beatpass-{svc}"}
        configure, write, read = (re.compile(p["permissions"][k]) for k in ("configure", "write", "read"))
        for name in names:
            assert configure.fullmatch(name) and write.fullmatch(name) and read.fullmatch(name), f"{svc}: {name}"
        assert write.fullmatch("amq.default") and not configure.fullmatch("amq.default")
        for foreign in ("other.tracks", "amq.topic", "uploadx.tracks", "beatpass.other"):
            assert not (configure.fullmatch(foreign) or write.fullmatch(foreign) or read.fullmatch(foreign)), foreign
    keda = perms["beatpass-keda"]["spec"]["permissions"]
    assert keda == {"configure": "^$", "write": "^$", "read": "^$"}


@overlays
def test_keys_are_required_secrets(overlay):
    deployments = of_kind(overlay, "Deployment", APP_NS)
    needed = {
        "beatpass-upload": [
            ("BEATPASS_JWT_PUBLIC_KEY", "BEATPASS_JWT_SECRET"),
            ("BEATPASS_URL_SIGNING_SECRET",),
            ("BEATPASS_INTERNAL_API_SECRET",),
        ],
        "beatpass-catalog": [("BEATPASS_INTERNAL_API_SECRET",)],
    }
    for name, choices_list in needed.items():
        env = {
            e["name"]: e for c in deployments[name]["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
        }
        for choices in choices_list:
            present = [env[v] for v in choices if v in env]
            assert present, f"{name}: none of {choices}"
            for e in present:
                assert e["valueFrom"]["secretKeyRef"].get("optional", False) is False, (
                    f"{name}: {e['name']} must not be optional"
                )
    prod_jwt = {
        e["name"]
        for c in of_kind("prod", "Deployment")["beatpass-upload"]["spec"]["template"]["spec"]["containers"]
        for e in c.get("env", [])
        if e["name"].startswith("BEATPASS_JWT")
    }
    assert prod_jwt == {"BEATPASS_JWT_PUBLIC_KEY"}, "prod verifies the identity provider's RS256 tokens"


# ---------------------------------------------------------------- workloads


@overlays
def test_workloads_are_hardened_for_the_restricted_level(overlay):
    """What Pod Security `restricted` demands, for every pod this repository defines."""
    for name, _ns, pod in pod_specs(overlay):
        sc = pod["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert all(set(v) & {"emptyDir", "secret", "configMap", "projected"} for v in volumes.values()), name
        for c in containers(pod):
            csc = c["securityContext"]
            assert csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False, name
            assert csc["capabilities"]["drop"] == ["ALL"] and not csc["capabilities"].get("add"), name
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name}: {part}"
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"
    namespaces = of_kind(overlay, "Namespace")
    assert namespaces[APP_NS]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces[DATA_NS]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces[DATA_NS]["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"


@overlays
def test_probes_and_metrics_live_on_the_ops_port(overlay):
    grace = Settings().shutdown_grace_s
    deployments = of_kind(overlay, "Deployment", APP_NS)
    assert set(deployments) == {f"beatpass-{s}" for s in SERVICES}
    cm = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]
    assert (cm["BEATPASS_OPS_PORT"], cm["BEATPASS_HTTP_PORT"]) == (str(OPS_PORT), str(API_PORT))
    for name, doc in deployments.items():
        pod = doc["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace + 10, (
            f"{name}: the pod grace period must outlast the drain grace"
        )
        (c,) = pod["containers"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"http": API_PORT, "ops": OPS_PORT}, name
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
            assert c[probe]["httpGet"] == {"path": path, "port": "ops"}, f"{name}: {probe}"
        assert "replicas" not in doc["spec"], f"{name}: replicas belong to the autoscaler"
        multiproc = next((e["value"] for e in c.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"), None)
        if multiproc:
            volumes = {v["name"]: v for v in pod["volumes"]}
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts[multiproc]], f"{name}: PROMETHEUS_MULTIPROC_DIR must be an emptyDir"
    upload_env = {e["name"] for e in deployments["beatpass-upload"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "PROMETHEUS_MULTIPROC_DIR" in upload_env, "the gateway runs under gunicorn: multiprocess metrics"
    for mon in of_kind(overlay, "ServiceMonitor", APP_NS).values():
        assert [e["port"] for e in mon["spec"]["endpoints"]] == ["ops"], mon["metadata"]["name"]
    for svc in of_kind(overlay, "Service", APP_NS).values():
        assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"http": API_PORT, "ops": OPS_PORT}


@overlays
def test_every_service_has_service_pdb_and_monitor(overlay):
    names = {f"beatpass-{s}" for s in SERVICES}
    assert names <= set(of_kind(overlay, "Service", APP_NS))
    assert names <= set(of_kind(overlay, "PodDisruptionBudget", APP_NS))
    monitors = of_kind(overlay, "ServiceMonitor", APP_NS)
    assert names <= set(monitors)
    for svc in SERVICES:
        assert (
            monitors[f"beatpass-{svc}"]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
            == f"beatpass-{svc}"
        )
    pod_monitors = of_kind(overlay, "PodMonitor", DATA_NS)
    for dep in ("beatpass-rabbitmq", "beatpass-minio", "beatpass-postgres", "beatpass-postgres-pooler"):
        assert dep in pod_monitors, f"no monitor for {dep} (its Down alert would always fire)"


# ---------------------------------------------------------------- migrations

DIRECT = "postgresql+psycopg://beatpass-postgres-primary.beatpass-data.svc:5432/beatpass_{svc}?sslmode=require"


@overlays
def test_migrations_run_once_before_the_rollout(overlay):
    """prod: one Job per database per release (named after the release, so nothing is deleted by
    hand), and pods wait for its schema in an init container (not under their startupProbe).
    dev: no Jobs; each pod's init container upgrades. The service containers never migrate."""
    with_db = {f.removesuffix("_database_url") for f in SETTINGS_FIELDS if f.endswith("_database_url")}
    assert with_db == set(WITH_DATABASE)
    cm = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]
    assert cm["BEATPASS_MIGRATE_ON_START"] == "false"
    deployments = of_kind(overlay, "Deployment", APP_NS)
    for svc in SERVICES:
        pod = deployments[f"beatpass-{svc}"]["spec"]["template"]["spec"]
        if svc not in with_db:
            assert not pod.get("initContainers"), svc
            continue
        (init,) = pod["initContainers"]
        assert init["command"] == ["python", "-m", "beatpass_common.schema", svc]
        env = {e["name"]: e.get("value") for e in init["env"]}
        assert env[f"BEATPASS_{svc.upper()}_DATABASE_URL"] == DIRECT.format(svc=svc), "migrations bypass the pooler"
        assert env.get("BEATPASS_MIGRATE_ON_START", "false") == ("true" if overlay == "dev" else "false")
    jobs = of_kind(overlay, "Job", APP_NS)
    if overlay == "dev":
        assert not jobs
        return
    tag = re.search(
        r"^# release (\S+)$", (DEPLOY / "k8s/overlays/prod/release/kustomization.yaml").read_text(), re.M
    ).group(1)
    assert set(jobs) == {f"beatpass-{svc}-migrate-{tag}" for svc in with_db}
    for svc in with_db:
        job = jobs[f"beatpass-{svc}-migrate-{tag}"]
        (c,) = job["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["python", "-m", f"beatpass_{svc}", "migrate"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env[f"BEATPASS_{svc.upper()}_DATABASE_URL"] == DIRECT.format(svc=svc)
        assert 0 < job["spec"]["ttlSecondsAfterFinished"] <= 7 * 86400


@pytest.mark.parametrize("svc", WITH_DATABASE)
def test_migration_command_runs(svc, tmp_path):
    """What the migration Job runs: `python -m beatpass_<svc> migrate` upgrades the schema and exits;
    then the init container's `python -m beatpass_common.schema <svc>` (waiting) passes at once."""
    import sqlite3

    db = tmp_path / f"{svc}.db"
    env = {
        **os.environ,
        f"BEATPASS_{svc.upper()}_DATABASE_URL": f"sqlite:///{db}",
        "BEATPASS_VAR_DIR": str(tmp_path),
        "BEATPASS_MIGRATE_ON_START": "false",
        "BEATPASS_MIGRATION_WAIT_S": "5",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if svc == "upload":  # before the Job: the init container gives up after its wait, with a sentence
        waiting = run(
            [sys.executable, "-m", "beatpass_common.schema", svc],
            env={**env, "BEATPASS_MIGRATION_WAIT_S": "0"},
            timeout=120,
        )
        assert waiting.returncode == 1 and "did not finish within BEATPASS_MIGRATION_WAIT_S" in waiting.stderr
    proc = run([sys.executable, "-m", f"beatpass_{svc}", "migrate"], env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    assert "alembic_version" in tables and len(tables) > 1, tables
    ready = run([sys.executable, "-m", "beatpass_common.schema", svc], env=env, timeout=120)
    assert ready.returncode == 0 and ready.stdout.startswith(f"beatpass-{svc}: database at "), ready.stderr


# ---------------------------------------------------------------- PostgreSQL connections and backups


def _max_replicas(overlay: str, svc: str) -> int:
    if svc == "upload":
        return of_kind(overlay, "HorizontalPodAutoscaler", APP_NS)["beatpass-upload"]["spec"]["maxReplicas"]
    return of_kind(overlay, "ScaledObject", APP_NS)[f"beatpass-{svc}"]["spec"]["maxReplicaCount"]


@overlays
def test_connection_pools_fit_the_pooler_and_postgres(overlay):
    """Every process's SQLAlchemy pool, at every service's maximum scale, fits the pooler's client
    limit; the pooler's server pools fit PostgreSQL's max_connections less what others need."""
    cm = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]
    defaults = Settings()
    deployments = of_kind(overlay, "Deployment", APP_NS)
    clients = 0
    for svc in WITH_DATABASE:
        c = deployments[f"beatpass-{svc}"]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in c["env"]}
        pool = int(env.get("BEATPASS_DATABASE_POOL_SIZE") or defaults.database_pool_size)
        overflow = int(env.get("BEATPASS_DATABASE_MAX_OVERFLOW") or defaults.database_max_overflow)
        processes = int(cm.get("BEATPASS_GUNICORN_WORKERS", defaults.gunicorn_workers)) if svc == "upload" else 1
        clients += _max_replicas(overlay, svc) * processes * (pool + overflow)
        assert f"beatpass-postgres-pooler-rw.{DATA_NS}.svc" in cm[f"BEATPASS_{svc.upper()}_DATABASE_URL"], svc
    pooler = of_kind(overlay, "Pooler", DATA_NS)["beatpass-postgres-pooler-rw"]["spec"]
    params = pooler["pgbouncer"]["parameters"]
    assert pooler["pgbouncer"]["poolMode"] == "transaction" and pooler["type"] == "rw"
    assert clients <= int(params["max_client_conn"]), f"{clients} client connections > max_client_conn"
    cluster = of_kind(overlay, "Cluster", DATA_NS)["beatpass-postgres"]["spec"]
    pg = cluster["postgresql"]["parameters"]
    per_db = min(
        int(params["default_pool_size"]) + int(params.get("reserve_pool_size", 0)), int(params["max_db_connections"])
    )
    server = pooler["instances"] * len(WITH_DATABASE) * per_db
    direct = 20  # migration Jobs and init containers, the operator, backups, an operator's psql
    budget = (
        int(pg["max_connections"]) - int(pg["superuser_reserved_connections"]) - int(pg["max_wal_senders"]) - direct
    )
    assert server <= budget, f"pooler may open {server} server connections, PostgreSQL allows {budget} for it"
    limits = {r["name"]: r["connectionLimit"] for r in cluster["managed"]["roles"]}
    assert all(limit >= pooler["instances"] * per_db + 5 for limit in limits.values()), limits


@overlays
def test_backups_go_off_site_through_the_plugin(overlay):
    cluster = of_kind(overlay, "Cluster", DATA_NS)["beatpass-postgres"]["spec"]
    assert "backup" not in cluster, "the in-tree barmanObjectStore is deprecated: the Barman Cloud plugin archives"
    if overlay == "dev":
        assert "plugins" not in cluster and not of_kind(overlay, "ScheduledBackup")
        return
    (plugin,) = cluster["plugins"]
    assert plugin["name"] == "barman-cloud.cloudnative-pg.io" and plugin["isWALArchiver"] is True
    store = of_kind(overlay, "ObjectStore", DATA_NS)[plugin["parameters"]["barmanObjectName"]]["spec"]
    endpoint = store["configuration"]["endpointURL"]
    assert endpoint.startswith("https://") and ".svc" not in endpoint and "minio" not in endpoint, "off-site, over TLS"
    (daily,) = of_kind(overlay, "ScheduledBackup", DATA_NS).values()
    assert daily["spec"]["method"] == "plugin" and daily["spec"]["pluginConfiguration"]["name"] == plugin["name"]
    assert daily["spec"]["immediate"] is True, "a first backup at install, not a day of BackupTooOld"
    assert "beatpass-pg-backups" not in {
        b["name"] for b in of_kind(overlay, "Tenant", DATA_NS)["beatpass-minio"]["spec"]["buckets"]
    }


def _restore_docs() -> list[dict]:
    import yaml

    return [d for d in yaml.safe_load_all(render_path(str(DEPLOY / "k8s" / "restore"))) if d]


def test_restore_cluster_renders_and_passes_the_network_policies():
    import yaml

    docs = _restore_docs()
    assert not _validate_custom(docs), _validate_custom(docs)
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    assert cluster["metadata"]["namespace"] == DATA_NS and cluster["metadata"]["name"] != "beatpass-postgres"
    source = cluster["spec"]["bootstrap"]["recovery"]["source"]
    (ext,) = [e for e in cluster["spec"]["externalClusters"] if e["name"] == source]
    assert ext["plugin"]["name"] == "barman-cloud.cloudnative-pg.io"
    assert ext["plugin"]["parameters"]["barmanObjectName"] == "beatpass-offsite"
    # CloudNativePG labels every instance pod cnpg.io/podRole=instance: the data namespace's
    # policies select that label, not the cluster's name, so a restored cluster may replicate,
    # reach the API and the object store, and be reached by the pooler and the operator
    policies = of_kind("prod", "NetworkPolicy", DATA_NS)
    instance = {"cnpg.io/podRole": "instance", "cnpg.io/cluster": cluster["metadata"]["name"]}
    selecting = {n for n, p in policies.items() if _selects(p["spec"]["podSelector"], instance)}
    assert {
        "beatpass-postgres",
        "beatpass-postgres-egress-kube-api-and-backups",
        "allow-dns",
        "default-deny-all",
    } <= selecting
    migrations = of_kind("prod", "NetworkPolicy", APP_NS)["beatpass-egress-dependencies"]["spec"]["egress"]
    assert any(
        _selects(peer["podSelector"], instance)
        for rule in migrations
        for peer in rule["to"]
        if {"protocol": "TCP", "port": 5432} in rule["ports"]
    ), "migrations reach a restored cluster"
    # the switch: the prod pooler and primary Service, pointed at the restored cluster and nothing else
    switch = {d["kind"]: d for d in yaml.safe_load_all(render_path(str(DEPLOY / "k8s/restore/switch"))) if d}
    prod_pooler = of_kind("prod", "Pooler", DATA_NS)["beatpass-postgres-pooler-rw"]
    prod_primary = of_kind("prod", "Service", DATA_NS)["beatpass-postgres-primary"]
    assert switch["Pooler"]["spec"] == {**prod_pooler["spec"], "cluster": {"name": cluster["metadata"]["name"]}}
    assert switch["Service"]["spec"]["selector"] == {
        **prod_primary["spec"]["selector"],
        "cnpg.io/cluster": cluster["metadata"]["name"],
    }
    # and the daily backup and the metrics follow it, or BackupTooOld and PostgreSQLDown would fire
    prod_backup = of_kind("prod", "ScheduledBackup", DATA_NS)["beatpass-postgres-daily"]
    assert switch["ScheduledBackup"]["spec"] == {
        **prod_backup["spec"],
        "cluster": {"name": cluster["metadata"]["name"]},
    }
    prod_monitor = of_kind("prod", "PodMonitor", DATA_NS)["beatpass-postgres"]
    assert switch["PodMonitor"]["spec"] == {
        **prod_monitor["spec"],
        "selector": {"matchLabels": {"cnpg.io/cluster": cluster["metadata"]["name"]}},
    }
    assert not _validate_custom(list(switch.values()))


# ---------------------------------------------------------------- scaling


@overlays
def test_scaling_follows_the_queues(overlay):
    hpas = of_kind(overlay, "HorizontalPodAutoscaler", APP_NS)
    assert set(hpas) == {"beatpass-upload"}
    scaled = of_kind(overlay, "ScaledObject", APP_NS)
    assert set(scaled) == {f"beatpass-{s}" for s in WORKERS}
    queues_of: dict[str, set[str]] = {}
    for q in QUEUES:
        queues_of.setdefault(q.service, set()).add(q.name)
    auth = of_kind(overlay, "TriggerAuthentication", APP_NS)["beatpass-rabbitmq"]["spec"]
    assert auth["secretTargetRef"] == [{"parameter": "host", "name": "beatpass-rabbitmq-keda", "key": "host"}]
    for svc in WORKERS:
        so = scaled[f"beatpass-{svc}"]["spec"]
        assert so["scaleTargetRef"]["name"] == f"beatpass-{svc}"
        assert so["minReplicaCount"] >= 1, "workers also serve health and metrics: never scale to zero"
        assert {t["metadata"]["queueName"] for t in so["triggers"]} == queues_of[svc]  # one trigger per queue
        for trigger in so["triggers"]:
            assert trigger["type"] == "rabbitmq" and trigger["authenticationRef"] == {"name": "beatpass-rabbitmq"}
            assert "hostFromEnv" not in trigger["metadata"], "KEDA must not read a service's own credentials"
            assert trigger["metadata"]["protocol"] == "http"
    if overlay == "dev":
        assert hpas["beatpass-upload"]["spec"]["maxReplicas"] == 1
        assert all(s["spec"]["maxReplicaCount"] == 1 for s in scaled.values())
        assert of_kind(overlay, "RabbitmqCluster", DATA_NS)["beatpass-rabbitmq"]["spec"]["replicas"] == 1
        assert of_kind(overlay, "Cluster", DATA_NS)["beatpass-postgres"]["spec"]["instances"] == 1
        assert of_kind(overlay, "Tenant", DATA_NS)["beatpass-minio"]["spec"]["pools"][0]["servers"] == 1


MIB = {"Mi": 2**20, "Gi": 2**30}
GUNICORN_CONF = ROOT / "services/upload/src/beatpass_upload/gunicorn_conf.py"
GRACE_MARGIN_S = 5


def _bytes(quantity: str) -> int:
    return int(quantity[:-2]) * MIB[quantity[-2:]]


def _env(container: dict, config: dict, name: str) -> str:
    own = {e["name"]: e.get("value") for e in container.get("env", [])}
    return own[name] if name in own else config[name]


@overlays
def test_grace_periods_outlast_the_drain(overlay):
    """SIGKILL must not cut a drain short: preStop sleep + the longest drain + a margin fit the grace period."""
    graceful = int(re.search(r"^graceful_timeout = (\d+)", GUNICORN_CONF.read_text(), re.M).group(1))
    config = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]
    for svc in SERVICES:
        pod = of_kind(overlay, "Deployment", APP_NS)[f"beatpass-{svc}"]["spec"]["template"]["spec"]
        (main,) = pod["containers"]
        pre_stop = main.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        drain = max(int(_env(main, config, "BEATPASS_SHUTDOWN_GRACE_S")), graceful if svc == "upload" else 0)
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + GRACE_MARGIN_S, svc


@overlays
def test_handler_memory_limit_fits_the_container(overlay):
    """RLIMIT_AS of the analysis child, plus room for the worker process, stays under the container's limit."""
    config = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]
    worker_room = 256 * 2**20
    for svc in ("validation", "waveform", "fingerprint"):
        (main,) = of_kind(overlay, "Deployment", APP_NS)[f"beatpass-{svc}"]["spec"]["template"]["spec"]["containers"]
        limit = int(_env(main, config, "BEATPASS_HANDLER_MEMORY_LIMIT_BYTES"))
        assert limit + worker_room <= _bytes(main["resources"]["limits"]["memory"]), svc


# ---------------------------------------------------------------- network


def _selects(selector: dict, labels: dict) -> bool:
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        if e["operator"] == "In" and labels.get(e["key"]) not in e["values"]:
            return False
    return True


@overlays
def test_network_policies_default_deny_and_closed_egress(overlay):
    for ns in (APP_NS, DATA_NS):
        policies = of_kind(overlay, "NetworkPolicy", ns)
        deny = policies["default-deny-all"]["spec"]
        assert (
            deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"} and not deny.get("ingress")
        )
        for name, p in policies.items():
            for rule in p["spec"].get("egress", []):
                assert rule.get("ports"), f"{ns}/{name}: egress to every port"
                assert rule != {}, f"{ns}/{name}: open egress"
            for rule in p["spec"].get("ingress", []):
                assert rule.get("ports"), f"{ns}/{name}: ingress on every port"
    app = of_kind(overlay, "NetworkPolicy", APP_NS)
    pods = {
        name: d["spec"]["template"]["metadata"]["labels"] for name, d in of_kind(overlay, "Deployment", APP_NS).items()
    }
    # from outside the namespace: the ingress controller reaches the gateway's API port only, Prometheus the ops port only
    for pname, p in app.items():
        for rule in p["spec"].get("ingress", []):
            ports = {port["port"] for port in rule["ports"]}
            for peer in rule.get("from", []):
                ns = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                targets = [n for n, labels in pods.items() if _selects(p["spec"]["podSelector"], labels)]
                if ns == "monitoring":
                    assert ports == {OPS_PORT}, f"{pname}: Prometheus must scrape the ops port only"
                elif ns == "ingress-nginx" and targets:
                    assert targets == ["beatpass-upload"] and ports == {API_PORT}, f"{pname}: {targets} {ports}"
                elif ns is not None:
                    assert not targets, f"{pname} opens {targets} to namespace {ns}"
    egress = app["beatpass-egress-dependencies"]["spec"]
    assert all(_selects(egress["podSelector"], labels) for labels in pods.values())
    for rule in egress["egress"]:
        assert all(
            peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": DATA_NS} for peer in rule["to"]
        )
    assert {p["port"] for r in egress["egress"] for p in r["ports"]} == {5672, 5671, 9000, 5432}
    catalog_from = app["beatpass-catalog-ingress"]["spec"]["ingress"][0]["from"]
    assert catalog_from == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "beatpass-upload"}}}]
    # the data namespace admits the services only from namespace beatpass
    data = of_kind(overlay, "NetworkPolicy", DATA_NS)
    for pname in ("beatpass-rabbitmq", "beatpass-minio", "beatpass-postgres-pooler"):
        peers = [
            peer
            for rule in data[pname]["spec"]["ingress"]
            for peer in rule["from"]
            if peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/part-of") == "beatpass"
        ]
        assert peers and all(
            peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": APP_NS} for peer in peers
        )


@overlays
def test_only_the_gateways_api_is_exposed(overlay):
    ingresses = of_kind(overlay, "Ingress", APP_NS)
    assert set(ingresses) == {"beatpass-upload"}
    ing = ingresses["beatpass-upload"]
    backends = [p["backend"]["service"] for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
    assert backends == [{"name": "beatpass-upload", "port": {"name": "http"}}], "never the ops port"
    body = ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("m") and int(body[:-1]) * 1024**2 >= Settings().max_upload_bytes
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert all(s["spec"].get("type", "ClusterIP") == "ClusterIP" for s in of_kind(overlay, "Service").values())
    host = ing["spec"]["rules"][0]["host"]
    public = of_kind(overlay, "ConfigMap", APP_NS)["beatpass-config"]["data"]["BEATPASS_PUBLIC_URL"]
    assert not host.endswith(".invalid"), "the overlay sets the host"
    if overlay == "prod":
        assert ing["spec"]["tls"] == [{"hosts": [host], "secretName": "beatpass-upload-tls"}]
        assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
        cert = of_kind(overlay, "Certificate", APP_NS)["beatpass-upload-tls"]["spec"]
        assert cert["dnsNames"] == [host] and cert["secretName"] == "beatpass-upload-tls"
        issuer = of_kind(overlay, "Issuer", APP_NS)[cert["issuerRef"]["name"]]["spec"]
        assert issuer["acme"]["solvers"][0]["http01"]["ingress"]["ingressClassName"] == ing["spec"]["ingressClassName"]
        assert public == f"https://{host}"
    else:
        assert public == f"http://{host}"


def test_prod_host_is_set_in_one_place(tmp_path):
    """site.env's host reaches the Ingress rule, its TLS entry, the Certificate and BEATPASS_PUBLIC_URL."""
    import shutil

    import yaml

    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("schemas", "tests"))
    (copy / "k8s/overlays/prod/app/site.env").write_text("host=beats.example.org\naudience=beats-client\n")
    out = run(["kubectl", "kustomize", str(copy / "k8s/overlays/prod")])
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "upload.beatpass.example" not in text
    docs = [d for d in yaml.safe_load_all(text) if d]
    ing = next(d for d in docs if d["kind"] == "Ingress")
    assert ing["spec"]["rules"][0]["host"] == "beats.example.org" == ing["spec"]["tls"][0]["hosts"][0]
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "beatpass-config")
    assert config["data"]["BEATPASS_JWT_AUDIENCE"] == "beats-client"
    assert not [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "beatpass-site"], (
        "local-config only"
    )
