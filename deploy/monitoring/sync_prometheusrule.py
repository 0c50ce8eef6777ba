"""Write prometheusrule.yaml from rules/beatpass.rules.yml (the plain file promtool checks).

Usage: python deploy/monitoring/sync_prometheusrule.py [--check] [--runbook-base URL]
--check exits 1 when prometheusrule.yaml is out of date (the deploy tests run this).
--runbook-base URL: where your copy of docs/operations.md is published (alerts link to
URL#<alert name in lower case>); rewrites every runbook_url in the rules and their promtool tests
and records URL in runbook-base-url.txt.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules" / "beatpass.rules.yml"
TARGET = HERE / "prometheusrule.yaml"
BASE_FILE = HERE / "runbook-base-url.txt"
HEADER = """\
# GENERATED from rules/beatpass.rules.yml by sync_prometheusrule.py: edit that file, then re-run.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: beatpass
  labels:
    release: kube-prometheus-stack
spec:
"""


def render() -> str:
    lines = RULES.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "\n".join("  " + line if line.strip() else "" for line in lines[start:])
    return HEADER + body + "\n"


def set_runbook_base(url: str) -> None:
    if not re.fullmatch(r"https?://\S+", url):
        raise SystemExit(f"--runbook-base needs an absolute http(s) URL, not {url!r}")
    old = BASE_FILE.read_text().strip()
    for path in [RULES, *sorted((HERE / "tests").glob("*.yaml"))]:
        path.write_text(path.read_text().replace(f"runbook_url: {old}#", f"runbook_url: {url}#"))
    BASE_FILE.write_text(url + "\n")


def main(argv: list[str]) -> int:
    if "--runbook-base" in argv:
        set_runbook_base(argv[argv.index("--runbook-base") + 1])
    text = render()
    yaml.safe_load(text)  # must stay valid YAML
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run python {Path(__file__).relative_to(HERE.parents[1])}")
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
