#!/usr/bin/env bash
# The one build path of the five service images (`make images`, `make release`).
#   scripts/build_images.sh                 build beatpass/<svc>:<TAG> and beatpass/<svc>:dev into the local engine
#   REGISTRY=reg.example/beatpass PUSH=1 scripts/build_images.sh
#                                           build, push <REGISTRY>/<svc>:<TAG>, and pin the pushed digests
#                                           into deploy/k8s/overlays/prod/release (scripts/pin_images.py)
#   scripts/build_images.sh --refresh-bases rewrite the FROM lines' digests to what their tags name today
# TAG is the commit: `git rev-parse --short=12 HEAD`, with -dirty when the work tree has changes
# (a release refuses a dirty tree). Every image is built from the one Dockerfile with
# --build-arg SERVICE=<svc>; its base images are pinned by digest; Python packages come from
# services/<svc>/requirements.lock with pip --require-hashes.
# Needs Docker with BuildKit (buildx). DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICES=(upload validation waveform fingerprint catalog)
run() { if [[ -n "${DRY_RUN:-}" ]]; then printf '%q ' "$@"; echo; else "$@"; fi; }

if [[ "${1:-}" == "--refresh-bases" ]]; then
  for ref in $(grep -ho '^FROM [^ ]*@sha256:[0-9a-f]*' Dockerfile | awk '{print $2}' | sort -u); do
    tag="${ref%@*}"
    digest=$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest.Digest}}' | tr -d '"')
    [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || { echo "no digest for $tag" >&2; exit 1; }
    sed -i "s|${tag}@sha256:[0-9a-f]\{64\}|${tag}@${digest}|" Dockerfile
    echo "$tag -> $digest"
  done
  exit 0
fi

TAG=$(git rev-parse --short=12 HEAD)
if [[ -n "$(git status --porcelain)" ]]; then TAG="$TAG-dirty"; fi
REVISION=$(git rev-parse HEAD)
if [[ -n "${PUSH:-}" ]]; then
  [[ -n "${REGISTRY:-}" ]] || { echo "PUSH=1 needs REGISTRY (e.g. registry.example/beatpass)" >&2; exit 2; }
  [[ "$TAG" != *-dirty ]] || { echo "a release is built from a committed tree: commit or stash first" >&2; exit 2; }
fi
REPO="${REGISTRY:-beatpass}"
meta=$(mktemp -d)
trap 'rm -rf "$meta"' EXIT
digests=()
for svc in "${SERVICES[@]}"; do
  args=(docker buildx build --file Dockerfile --build-arg "SERVICE=$svc" --build-arg "REVISION=$REVISION"
        --label "org.opencontainers.image.version=$TAG" --tag "$REPO/$svc:$TAG")
  if [[ -n "${PUSH:-}" ]]; then
    args+=(--push --metadata-file "$meta/$svc.json")
  else
    args+=(--load --tag "beatpass/$svc:dev")  # the dev overlay's tag (kind load docker-image ...)
  fi
  run "${args[@]}" .
  if [[ -n "${PUSH:-}" && -z "${DRY_RUN:-}" ]]; then
    digest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$meta/$svc.json")
    digests+=("$svc=$digest")
  fi
done
if [[ -n "${PUSH:-}" && -z "${DRY_RUN:-}" ]]; then
  python3 scripts/pin_images.py --registry "$REPO" --tag "$TAG" "${digests[@]}"
  echo "pinned release $TAG in deploy/k8s/overlays/prod/release: commit it, then apply the prod overlay"
fi
echo "images: ${SERVICES[*]} tagged $TAG"
