"""Write prometheusrule.yaml from rules/beatpass.rules.yml (the plain file promtool checks).

Usage: python deploy/monitoring/sync_prometheusrule.py [--check]
--check exits 1 when prometheusrule.yaml is out of date (the deploy tests run this).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules" / "beatpass.rules.yml"
TARGET = HERE / "prometheusrule.yaml"
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


def main(argv: list[str]) -> int:
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
