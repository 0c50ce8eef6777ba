#!/usr/bin/env bash
# Creates every Secret the prod overlay reads, before the first `kubectl apply` (docs/operations.md,
# "From an empty cluster", step 5). Random credentials for the users the operators make (one
# RabbitMQ user, MinIO user and PostgreSQL role per service, KEDA's monitoring user, MinIO's root);
# the identity provider's public key and the off-site backup bucket's keys come from you.
# A Secret that already exists is left alone (re-running never rotates a credential).
# MinIO users and PostgreSQL roles are read by their operator in beatpass-data AND by the services
# in beatpass: the same values are written to both namespaces.
#   JWT_PUBLIC_KEY_FILE=idp-public.pem BACKUP_S3_ACCESS_KEY_ID=... BACKUP_S3_SECRET_ACCESS_KEY=... \
#     scripts/create_secrets.sh
# Prefer your secret manager (External Secrets etc.) in the long run: the names and keys are the
# table in docs/operations.md "Secrets".
set -euo pipefail
APP="${APP_NAMESPACE:-beatpass}"
DATA="${DATA_NAMESPACE:-beatpass-data}"
: "${JWT_PUBLIC_KEY_FILE:?the RS256 public key of the identity provider (PEM file)}"
: "${BACKUP_S3_ACCESS_KEY_ID:?the access key of the off-site backup bucket}"
: "${BACKUP_S3_SECRET_ACCESS_KEY:?the secret key of the off-site backup bucket}"
[[ -r "$JWT_PUBLIC_KEY_FILE" ]] || { echo "cannot read $JWT_PUBLIC_KEY_FILE" >&2; exit 2; }

random() { openssl rand -hex 24; }
exists() { kubectl -n "$1" get secret "$2" >/dev/null 2>&1; }
# create NAMESPACE NAME [TYPE] ARGS...: kubectl create secret generic, unless it exists
create() {
  local ns=$1 name=$2; shift 2
  if exists "$ns" "$name"; then echo "secret $ns/$name exists: kept"; return 0; fi
  kubectl -n "$ns" create secret generic "$name" "$@" >/dev/null
  echo "secret $ns/$name created"
}

for svc in upload validation waveform fingerprint catalog; do
  create "$APP" "beatpass-rabbitmq-$svc" --type=kubernetes.io/basic-auth \
    --from-literal=username="beatpass-$svc" --from-literal=password="$(random)"
done
keda_pw=$(random)
create "$APP" beatpass-rabbitmq-keda --from-literal=username=beatpass-keda --from-literal=password="$keda_pw" \
  --from-literal=host="http://beatpass-keda:${keda_pw}@beatpass-rabbitmq.${DATA}.svc:15672/beatpass"

for svc in upload validation waveform fingerprint; do
  key="beatpass-$svc" secret=$(random)
  for ns in "$DATA" "$APP"; do
    create "$ns" "beatpass-minio-$svc" --from-literal=CONSOLE_ACCESS_KEY="$key" --from-literal=CONSOLE_SECRET_KEY="$secret"
  done
done
for svc in upload fingerprint catalog; do
  pw=$(random)
  for ns in "$DATA" "$APP"; do
    create "$ns" "beatpass-pg-$svc" --type=kubernetes.io/basic-auth \
      --from-literal=username="beatpass_$svc" --from-literal=password="$pw"
  done
done
create "$DATA" beatpass-minio-env \
  --from-literal=config.env="$(printf 'export MINIO_ROOT_USER="beatpass-root"\nexport MINIO_ROOT_PASSWORD="%s"' "$(random)")"
create "$DATA" beatpass-backup-s3 --from-literal=ACCESS_KEY_ID="$BACKUP_S3_ACCESS_KEY_ID" \
  --from-literal=ACCESS_SECRET_KEY="$BACKUP_S3_SECRET_ACCESS_KEY"

create "$APP" beatpass-jwt --from-file=public-key="$JWT_PUBLIC_KEY_FILE"
create "$APP" beatpass-url-signing --from-literal=secret="$(random)"
create "$APP" beatpass-internal-api --from-literal=secret="$(random)"
