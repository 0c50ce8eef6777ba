# syntax=docker/dockerfile:1
# The one Dockerfile of the five service images; SERVICE names which. Built by `make images`
# (scripts/build_images.sh) from the repository root:
#   docker build --build-arg SERVICE=catalog --build-arg REVISION=$(git rev-parse HEAD) -t beatpass/catalog:TAG .
# Every image: the same digest-pinned Python base, third-party packages from
# services/$SERVICE/requirements.lock with pip --require-hashes, the two local packages as wheels
# built in a stage of their own, user 10001. What differs per service is its last stage below.
# Base images are pinned by digest (scripts/build_images.sh --refresh-bases rewrites the pins).
#checkov:skip=CKV_DOCKER_2:Kubernetes probes /healthz and /readyz on the ops port (deploy/k8s); compose has its own healthcheck
#checkov:skip=CKV_DOCKER_7:FROM source-${SERVICE} and FROM ${SERVICE} name stages of this file, not images; both external bases are pinned by digest
ARG SERVICE

# The upload page's bundle (npm ci: versions and integrity hashes from package-lock.json); only
# the upload image's build reads it, so only that build runs it.
FROM node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0 AS page
WORKDIR /src/services/upload/frontend
COPY services/upload/frontend/package.json services/upload/frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY services/upload/frontend ./
# build.mjs writes the bundle into ../src/beatpass_upload/static, making the folder (git keeps none)
RUN npm run build

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS source
ARG SERVICE
WORKDIR /src
COPY libs/common libs/common
COPY services/${SERVICE} services/${SERVICE}

# The sources a service's wheel is built from: its own, plus the page bundle for upload.
FROM source AS source-upload
COPY --from=page /src/services/upload/src/beatpass_upload/static services/upload/src/beatpass_upload/static
FROM source AS source-validation
FROM source AS source-waveform
FROM source AS source-fingerprint
FROM source AS source-catalog

# Only the two local packages are built here (their build backend stays in this stage);
# their dependencies come from the lock below.
FROM source-${SERVICE} AS build
ARG SERVICE
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./libs/common ./services/${SERVICE}

FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS runtime
ARG SERVICE
ARG REVISION=unknown
LABEL org.opencontainers.image.title="beatpass-${SERVICE}" \
      org.opencontainers.image.source="services/${SERVICE}" \
      org.opencontainers.image.revision="${REVISION}"
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 beatpass \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin beatpass
RUN --mount=type=bind,source=services/${SERVICE}/requirements.lock,target=/tmp/requirements.lock \
    pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps --no-index /wheels/*.whl
# 8080: the API (BEATPASS_HTTP_PORT); 9090: /healthz, /readyz, /metrics (BEATPASS_OPS_PORT)
EXPOSE 8080 9090

# ---- what differs per service ----------------------------------------------------------------

# The public gateway under gunicorn. MALLOC_ARENA_MAX: with many threads, glibc arenas fragment
# and RSS creeps up with bytes received. /tmp and /run/metrics are writable volumes (the root
# filesystem is read-only in Kubernetes).
FROM runtime AS upload
ENV PROMETHEUS_MULTIPROC_DIR=/run/metrics MALLOC_ARENA_MAX=2
USER 10001:10001
CMD ["gunicorn", "-c", "python:beatpass_upload.gunicorn_conf", "beatpass_upload.wsgi:app"]

# libsndfile1 backs soundfile (librosa's audio I/O); the service itself parses WAV on its own.
# numba (under librosa) caches compiled functions next to their sources unless told otherwise;
# site-packages is not writable by the service user.
FROM runtime AS validation
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsndfile1 \
    && rm -rf /var/lib/apt/lists/*
ENV NUMBA_CACHE_DIR=/tmp/numba-cache
USER 10001:10001
CMD ["python", "-m", "beatpass_validation"]

# No libsndfile: the service reads WAV with its own streaming reader (wav.py).
FROM runtime AS waveform
USER 10001:10001
CMD ["python", "-m", "beatpass_waveform"]

# libchromaprint1 is the C library pyacoustid loads through ctypes; it brings FFmpeg's
# libswresample (through libavcodec), which resample.py loads the same way. librosa (the
# shift-robust print's constant-Q transform) imports soundfile, whose wheel carries its own
# libsndfile; numba under it caches compiled functions in a writable place, as in validation.
FROM runtime AS fingerprint
RUN apt-get update \
    && apt-get install -y --no-install-recommends libchromaprint1 \
    && rm -rf /var/lib/apt/lists/*
ENV NUMBA_CACHE_DIR=/tmp/numba-cache
USER 10001:10001
CMD ["python", "-m", "beatpass_fingerprint"]

FROM runtime AS catalog
USER 10001:10001
CMD ["python", "-m", "beatpass_catalog"]

FROM ${SERVICE}
