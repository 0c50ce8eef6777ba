#!/usr/bin/env bash
# Installs everything the platform needs on a fresh Debian machine, idempotently and quickly when
# already done: Debian libraries (libsndfile, Chromaprint, ...), a virtualenv with pinned packages.
# Usage: scripts/bootstrap.sh [run|test|bench]
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
VENV="${VENV:-.venv}"

DEB_PACKAGES=(libsndfile1 libchromaprint1 libchromaprint-tools)
if [[ "$MODE" != run ]]; then
  DEB_PACKAGES+=(espeak-ng lame sox chromium)
fi
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.bootstrap-$MODE"
inputs=$(cat requirements-dev.txt libs/common/pyproject.toml services/*/pyproject.toml | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs" ]]; then
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --upgrade "pip>=24"
args=(-e libs/common)
for svc in services/*/; do args+=(-e "$svc"); done
[[ "$MODE" != run ]] && args+=(-r requirements-dev.txt)
"$VENV/bin/pip" install -q --disable-pip-version-check "${args[@]}"
echo "$inputs" > "$stamp"
