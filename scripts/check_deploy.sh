#!/usr/bin/env bash
# Validates deploy/ without a cluster or internet: renders every kustomize overlay, validates the
# manifests (Kubernetes schemas, strict; vendored CRD schemas), runs checkov (Kubernetes and the
# Dockerfiles), promtool's rule checks and unit tests, a real Prometheus against the running
# services, the bus permissions on the local RabbitMQ, and docs/operations.md's walk-through.
# Installs what is missing first (Debian: kubectl, prometheus for promtool and the server; pip pins
# from requirements-deploy.txt into .venv, checkov into .venv/checkov).
# Usage: scripts/check_deploy.sh [--install-only] [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
CHECKOV_VENV="$VENV/checkov"
REQS=requirements-deploy.txt

SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
apt_updated=""
apt_install() {
  if [[ -z "$apt_updated" ]]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if ! command -v kubectl >/dev/null; then
  echo "check_deploy: installing kubectl"
  apt_install kubectl || apt_install kubernetes-client
fi
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "check_deploy: installing prometheus (for promtool)"
  apt_install prometheus
fi

[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
stamp="$VENV/.deploy-tools"
PIP_NOISE='/^WARNING: Location .* is ignored/d'  # unreachable extra indexes in some pip configs
inputs=$(sha256sum "$REQS" | cut -c1-16)
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$inputs" ]]; then
  echo "check_deploy: installing $REQS"
  grep -v '^checkov' "$REQS" > "$VENV/.deploy-reqs.txt"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$VENV/.deploy-reqs.txt" 2>&1 | sed "$PIP_NOISE"
  [[ -x "$CHECKOV_VENV/bin/python" ]] || python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install -q --disable-pip-version-check "$(grep '^checkov==' "$REQS")" 2>&1 | sed "$PIP_NOISE"
  echo "$inputs" > "$stamp"
fi

if [[ "${1:-}" == "--install-only" ]]; then
  exit 0
fi
exec "$VENV/bin/python" -m pytest -q tests/deploy "$@"
