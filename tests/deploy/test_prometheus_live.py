"""Every dashboard query and alert rule, evaluated by a real Prometheus (Debian's `prometheus`)
scraping the five services running locally on their ops ports.

live_metrics.py --serve starts the services (embedded mode, each with an API and an ops port);
a fixture exporter serves the series of the dependencies and kube-state-metrics that a laptop
cannot run (the names in deploy/monitoring/metric-names.txt, with the topology's queues as
labels); Prometheus scrapes both every second, with the catalog scraped twice as two replicas,
and loads the alert rules. Then: every dashboard expression and every alert expression answers
without error, with data; every rule evaluates healthy; every beatpass_* series the services
export is in Prometheus; the catalog's shared gauges are not counted once per replica.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import DEPLOY, ROOT, SERVICES
from test_monitoring import _alerts, _dashboard_targets, known_metrics, metric_names

from beatpass_common.bus.topology import QUEUES
from beatpass_common.testing.infra import free_port

MONITORING = DEPLOY / "monitoring"
SCRAPE_S = 1
START_LIMIT_S = 60
EXTERNAL_JOBS = {
    "rabbitmq_": "beatpass-rabbitmq",
    "cnpg_": "beatpass-postgres",
    "barman_": "beatpass-postgres",
    "kube_": "kube-state-metrics",
}


STARTED = time.time()


def _external_exposition() -> str:
    """Samples of every non-BeatPass name the dashboard and alerts use, as their exporters label
    them; the validation container restarts every scrape and was last OOMKilled."""
    now = time.time()
    lines = []
    queues = [q.name for q in QUEUES] + sorted({f"{q.service}.dead" for q in QUEUES})
    for name in sorted(known_metrics(for_alerts=True)):
        if name.startswith("rabbitmq_queue_"):
            lines += [f'{name}{{vhost="beatpass",queue="{q}"}} {1 if "consumers" in name else 0}' for q in queues]
        elif name.startswith("rabbitmq_alarms_"):
            lines.append(f"{name} 0")
        elif name.startswith("kube_statefulset"):
            lines.append(f'{name}{{namespace="beatpass-data",statefulset="beatpass-rabbitmq-server"}} 3')
        elif name.startswith("kube_pod_container_status_restarts"):
            lines += [
                f'{name}{{namespace="beatpass",pod="beatpass-{s}-0",container="{s}"}} '
                f"{int(now - STARTED) if s == 'validation' else 0}"
                for s in SERVICES
            ]
        elif name.startswith("kube_pod_container_status_last_terminated_reason"):
            lines += [
                f'{name}{{namespace="beatpass",pod="beatpass-{s}-0",container="{s}",reason="OOMKilled"}} '
                f"{int(s == 'validation')}"
                for s in SERVICES
            ]
        elif name.startswith("barman_"):
            lines.append(f'{name}{{pod="beatpass-postgres-1"}} {now - 3600:.0f}')
        elif name.startswith("cnpg_pg_stat_archiver_last_failed"):
            lines.append(f'{name}{{pod="beatpass-postgres-1"}} -1')
        elif name.startswith("cnpg_"):
            lines.append(
                f'{name}{{pod="beatpass-postgres-1"}} {now:.0f}'
                if name.endswith("_time")
                else f'{name}{{pod="beatpass-postgres-1"}} 2'
            )
        elif name in ("pg_up", "cnpg_collector_up"):
            lines.append(f"{name} 1")
    return "\n".join(lines) + "\n"


class _Exporter(BaseHTTPRequestHandler):
    def do_GET(self):  # http.server's name
        body = _external_exposition().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _api(port: int, path: str, **params) -> dict:
    url = f"http://127.0.0.1:{port}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _wait(limit_s: float, what: str, check):
    deadline = time.monotonic() + limit_s
    while True:
        try:
            result = check()
            if result:
                return result
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit_s} s: {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("prometheus")
    services = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("live_metrics.py")), "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp / "services.log").open("w"),
        text=True,
        cwd=ROOT,
    )
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    prom = None
    try:
        line = services.stdout.readline()
        assert line, f"the services did not start: {(tmp / 'services.log').read_text()[-3000:]}"
        ports = json.loads(line)
        for _ in range(3):  # request metrics for the latency panels (refused without a token, still measured)
            for url in (
                f"http://127.0.0.1:{ports['upload']['http']}/api/v1/me",
                f"http://127.0.0.1:{ports['catalog']['http']}/internal/v1/producers/p1/tracks",
            ):
                with contextlib.suppress(urllib.error.HTTPError):
                    urllib.request.urlopen(url, timeout=10)
        jobs = [
            {"job_name": f"beatpass-{svc}", "static_configs": [{"targets": [f"127.0.0.1:{ports[svc]['ops']}"]}]}
            for svc in SERVICES
        ]
        # two catalog replicas computing the same gauges from the same database
        jobs[SERVICES.index("catalog")]["static_configs"].append(
            {"targets": [f"127.0.0.1:{ports['catalog']['ops']}"], "labels": {"instance": "catalog-replica-2"}}
        )
        ext = f"127.0.0.1:{exporter.server_address[1]}"
        jobs += [
            {"job_name": job, "honor_labels": True, "static_configs": [{"targets": [ext]}]}
            for job in sorted(set(EXTERNAL_JOBS.values()))
        ]
        config = {
            "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
            "rule_files": [str(MONITORING / "rules" / "beatpass.rules.yml")],
            "scrape_configs": jobs,
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        port = free_port()
        prom = subprocess.Popen(
            [
                shutil.which("prometheus"),
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "prometheus.log").open("w"),
        )
        targets = len(SERVICES) + 1 + len(set(EXTERNAL_JOBS.values()))

        def all_up_thrice():
            result = _api(port, "query", query="count_over_time(up[1m]) >= 3 and up == 1")["data"]["result"]
            return len(result) == targets

        _wait(START_LIMIT_S, f"{targets} targets up for 3 scrapes ({tmp / 'prometheus.log'})", all_up_thrice)
        _wait(
            10,
            "the catalog's reaper gauges",
            lambda: _api(port, "series", **{"match[]": "beatpass_catalog_tracks"})["data"],
        )
        yield port, ports
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(20)
        services.stdin.close()
        services.terminate()
        services.wait(30)
        exporter.shutdown()


def _query(port: int, expr: str) -> list:
    body = _api(port, "query", query=expr.replace("$__rate_interval", "15s"))
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_every_dashboard_query_answers_with_data(prometheus):
    port, _ = prometheus
    exprs = list(_dashboard_targets(json.loads((MONITORING / "grafana" / "beatpass.json").read_text())["panels"]))
    present = set(_api(port, "label/__name__/values")["data"])
    empty = []
    for expr in exprs:
        if not _query(port, expr) and metric_names(expr) <= present:
            empty.append(expr)  # every series it reads exists, yet no answer: a wrong label or join
    assert not empty, "\n".join(empty)
    # the rest read counters whose labels appear with traffic (saves, consumed events): they parsed
    answered = sum(bool(_query(port, e)) for e in exprs)
    assert answered >= 20, f"only {answered} of {len(exprs)} panel queries have data: is the setup scraping?"


def test_every_alert_expression_evaluates_and_rules_are_healthy(prometheus):
    port, _ = prometheus
    for rule in _alerts().values():
        _query(port, rule["expr"])  # status success: parses and evaluates against live series
    groups = _wait(
        15,
        "every rule evaluated",
        lambda: [
            g
            for g in _api(port, "rules")["data"]["groups"]
            if all(r.get("lastEvaluation", "").startswith("20") for r in g["rules"])
        ],
    )
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(_alerts()) <= set(rules)
    bad = {n: r.get("lastError") for n, r in rules.items() if r["health"] != "ok"}
    assert not bad, bad
    firing = {a["labels"]["alertname"] for a in _api(port, "alerts")["data"]["alerts"] if a["state"] == "firing"}
    assert not firing & {"BeatpassServiceDown", "BeatpassQueueWithoutConsumers", "BeatpassRabbitMQAlarm"}, firing


def test_service_series_reach_prometheus(prometheus):
    port, ports = prometheus
    present = set(_api(port, "label/__name__/values")["data"])
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['upload']['ops']}/metrics", timeout=10) as r:
        sampled = {
            line.split("{")[0].split(" ")[0]
            for line in r.read().decode().splitlines()
            if line and not line.startswith("#")
        }
    ours = {n for n in known_metrics(for_alerts=True) if n.startswith("beatpass_")}
    missing = sorted(n for n in ours & sampled if n not in present)
    assert not missing, missing
    # the API port never answers the ops routes (what an Ingress routes to)
    for path in ("/metrics", "/healthz", "/readyz"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{ports['upload']['http']}{path}", timeout=10)
        assert err.value.code == 404


def test_catalog_gauges_are_not_counted_per_replica(prometheus):
    port, _ = prometheus
    # (in embedded mode the five services share one registry: look at the catalog's job only)
    per_replica = _query(port, 'count by (status) (beatpass_catalog_tracks{job="beatpass-catalog"})')
    assert per_replica and all(r["value"][1] == "2" for r in per_replica), "two catalog targets scraped"
    panel = {
        r["metric"]["status"]: r["value"][1]
        for r in _query(port, 'max by (status) (beatpass_catalog_tracks{job="beatpass-catalog"})')
    }
    one = {
        r["metric"]["status"]: r["value"][1]
        for r in _query(port, 'beatpass_catalog_tracks{instance="catalog-replica-2"}')
    }
    assert panel == one
