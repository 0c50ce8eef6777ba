"""deploy/monitoring checked offline: the alert rules (promtool check and unit tests, one firing
test per alert, absolute runbook links to existing sections), the queue lists derived from the
bus topology, the dashboard's layout and aggregation of shared gauges, the metric names against
the services' live /metrics, and the compose setup. A real Prometheus scraping the running
services evaluates every expression in test_prometheus_live.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import APP_NS, DEPLOY, OVERLAYS, ROOT, SERVICES, of_kind, run

from beatpass_common.bus.topology import QUEUES, all_queues, wait_queue
from beatpass_common.config import Settings

MONITORING = DEPLOY / "monitoring"
RULES_FILE = MONITORING / "rules" / "beatpass.rules.yml"
DASHBOARD = MONITORING / "grafana" / "beatpass.json"
OPERATIONS = ROOT / "docs" / "operations.md"
RUNBOOK_BASE = (MONITORING / "runbook-base-url.txt").read_text().strip()
SETTINGS_FIELDS = set(Settings.model_fields)


def _env_name_ok(name: str) -> bool:
    return name in {"PROMETHEUS_MULTIPROC_DIR", "MALLOC_ARENA_MAX"} or (
        name.startswith("BEATPASS_") and name.removeprefix("BEATPASS_").lower() in SETTINGS_FIELDS
    )


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
        assert ann.get("runbook_url") == f"{RUNBOOK_BASE}#{name.lower()}", f"{name}: an absolute runbook URL"
        assert name.lower() in headings, f"docs/operations.md has no runbook section '{name}'"
        assert rule["labels"]["severity"] in {"warning", "critical"}, name


def test_prometheusrule_matches_plain_rules_file():
    proc = run([sys.executable, str(MONITORING / "sync_prometheusrule.py"), "--check"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cr = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert cr["spec"] == yaml.safe_load(RULES_FILE.read_text())


def test_runbook_base_is_absolute_and_can_be_changed(tmp_path):
    assert re.fullmatch(r"https://\S+", RUNBOOK_BASE)
    copy = tmp_path / "monitoring"
    import shutil

    shutil.copytree(MONITORING, copy)
    proc = run(
        [
            sys.executable,
            str(copy / "sync_prometheusrule.py"),
            "--runbook-base",
            "https://wiki.example.org/beatpass/ops",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    text = (copy / "prometheusrule.yaml").read_text()
    assert RUNBOOK_BASE not in text and text.count("runbook_url: https://wiki.example.org/beatpass/ops#") == len(
        _alerts()
    )
    assert RUNBOOK_BASE not in "".join(p.read_text() for p in (copy / "tests").glob("*.yaml"))
    # the rewritten tests still pass (two of them: test_promtool_test_rules runs them all)
    assert (
        run(
            [
                "promtool",
                "test",
                "rules",
                str(copy / "tests" / "service_down.yaml"),
                str(copy / "tests" / "dead_letters_waiting.yaml"),
            ]
        ).returncode
        == 0
    )
    bad = run([sys.executable, str(copy / "sync_prometheusrule.py"), "--runbook-base", "docs/operations.md"])
    assert bad.returncode != 0 and "absolute http(s) URL" in bad.stderr


# ---------------------------------------------------------------- queue lists from the topology

CONSUMER_METRICS = ("rabbitmq_queue_consumers", "rabbitmq_queue_messages_unacked", "rabbitmq_queue_messages_ready")


def _queue_regexes(expr: str) -> list[tuple[str, str]]:
    """(metric, regex as PromQL reads it) of every queue=~"..." matcher in ``expr``."""
    out = []
    for m in re.finditer(r'([a-z_]+)\{[^}]*queue=~"((?:[^"\\]|\\.)*)"', expr):
        out.append((m.group(1), m.group(2).encode().decode("unicode_escape")))
    return out


def _all_queue_names() -> set[str]:
    return {q.name for q in all_queues()} | {wait_queue(q.name, 1.0).name for q in QUEUES}


def _exprs() -> list[tuple[str, str]]:
    rules = [(f"alert {r['alert']}", r["expr"]) for r in _alerts().values()]
    return rules + [(f"panel {e[:40]}", e) for e in _dashboard_targets(json.loads(DASHBOARD.read_text())["panels"])]


def test_queue_lists_are_the_topologys_consumer_queues():
    """A queue added to libs/common bus/topology.py cannot be missed again by the alerts or panels."""
    consumer = {q.name for q in QUEUES}
    dead = {f"{s}.dead" for s in {q.service for q in QUEUES}}
    checked = 0
    for where, expr in _exprs():
        for metric, regex in _queue_regexes(expr):
            if metric not in CONSUMER_METRICS:
                continue
            matched = {name for name in _all_queue_names() if re.fullmatch(regex, name)}
            assert matched in (consumer, dead), f"{where}: {regex} matches {sorted(matched)}"
            checked += 1
    assert checked >= 6
    for alert in ("BeatpassQueueWithoutConsumers", "BeatpassQueueBacklog", "BeatpassMessagesUnacked"):
        (pair,) = _queue_regexes(_alerts()[alert]["expr"])
        assert {n for n in _all_queue_names() if re.fullmatch(pair[1], n)} == consumer, alert


def test_the_dead_letter_alert_stays_on_while_letters_wait():
    expr = _alerts()["BeatpassDeadLettersWaiting"]["expr"]
    assert "delta(" not in expr and "increase(" not in expr and "rate(" not in expr


def test_shared_gauges_are_never_summed_over_replicas():
    """Every catalog replica computes its gauges from the same database, every replica of a
    service measures the same outbox table: sum() would count them once per replica."""
    shared = ("beatpass_catalog_tracks", "beatpass_catalog_overdue_steps", "beatpass_outbox_")
    for where, expr in _exprs():
        for m in re.finditer(r"\b(sum|avg)\s*(?:by\s*\([^)]*\))?\s*\(([^()]*)\)", expr):
            assert not any(g in m.group(2) for g in shared), f"{where}: {m.group(0)}"


def test_dashboard_has_the_day_two_panels():
    titles = {p["title"].lower() for p in json.loads(DASHBOARD.read_text())["panels"]}
    for topic in ("unacked", "outbox lag", "restarts", "oom", "backup"):
        assert any(topic in t for t in titles), f"no panel about {topic}"


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


PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        if e[m.end() :].lstrip().startswith("(") or m.group(0).lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(m.group(0))
    return names


def test_metric_name_parser():
    assert metric_names('sum by (le) (rate(a_b_bucket{x="y(z)"}[5m])) / on(job) group_left(k) c > 0.5 and d') == {
        "a_b_bucket",
        "c",
        "d",
    }
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
    cm = of_kind(OVERLAYS[0], "ConfigMap", APP_NS)["beatpass-grafana-dashboard"]
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
        assert s["build"] == {"context": "..", "args": {"SERVICE": svc}}  # the root Dockerfile
        assert s["read_only"] is True and "/tmp" in s["tmpfs"]
        assert "/readyz" in " ".join(s["healthcheck"]["test"])
        for var in s["environment"]:
            assert _env_name_ok(var), f"compose {svc}: {var}"
        # laptop credentials only: outside dev mode the gateway and catalog exit without their secrets
        assert s["environment"].get("BEATPASS_DEV_MODE") == "true", f"compose {svc}: dev mode"
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
