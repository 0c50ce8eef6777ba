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
  DEB_PACKAGES+=(espeak-ng lame sox chromium prometheus)
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

# The upload page's scripts (tus-js-client, wavesurfer.js) are bundled with esbuild into the
# gateway's static folder; rebuilt when the bundle is missing or older than its sources.
build_frontend() {
  local fe=services/upload/frontend
  local bundle=services/upload/src/beatpass_upload/static/upload.js
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    [[ -f "$bundle" ]] && return 0
    echo "bootstrap: installing Debian's nodejs and npm to build the upload page"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  if [[ -f "$bundle" ]] && [[ -z "$(find "$fe/src" "$fe/build.mjs" "$fe/package.json" "$fe/package-lock.json" -newer "$bundle" -print -quit)" ]]; then
    return 0
  fi
  echo "bootstrap: building the upload page ($fe)"
  (cd "$fe" && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
}
build_frontend

stamp="$VENV/.bootstrap-$MODE"
inputs=$(cat "$0" requirements-dev.txt libs/common/pyproject.toml services/*/pyproject.toml | sha256sum | cut -c1-16)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$inputs" ]]; then
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check --upgrade "pip>=24"
args=(-e libs/common)
for svc in services/*/; do
  # tests and benchmarks also need a service's "test" extra, where it has one
  if [[ "$MODE" != run ]] && grep -q '^test = ' "$svc/pyproject.toml"; then args+=(-e "${svc%/}[test]"); else args+=(-e "$svc"); fi
done
if [[ "$MODE" != run ]]; then
  args+=(-r requirements-dev.txt)
else  # the tus client of the README's example, at the pin the tests use
  args+=("$(grep -m1 '^tuspy==' requirements-dev.txt)")
fi
"$VENV/bin/pip" install -q --disable-pip-version-check "${args[@]}"
echo "$inputs" > "$stamp"
