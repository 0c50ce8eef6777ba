"""All settings, read once from ``BEATPASS_*`` environment variables.

Embedded defaults keep ``make run`` self-contained (in-memory bus, SQLite, local objects under
./var); pointing the URLs at RabbitMQ, PostgreSQL and MinIO changes nothing else.
"""

from __future__ import annotations

import ssl
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "beatpass-dev-secret-do-not-use-in-production"
# Dev mode only (BEATPASS_DEV_MODE): the keys a service would otherwise refuse to start without.
DEV_SECRETS = {
    "jwt_secret": DEV_JWT_SECRET,
    "url_signing_secret": "beatpass-dev-url-signing-not-for-production",
    "internal_api_secret": "beatpass-dev-internal-api-not-for-production",
}


class MissingSecret(Exception):
    """A key the service needs is not configured and dev mode is off: the process must not start."""


# Health/metrics port per process when BEATPASS_HTTP_PORT is not set (the gateway serves its API on it).
DEFAULT_PORTS = {"upload": 8080, "validation": 8081, "waveform": 8082, "fingerprint": 8083, "catalog": 8084}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BEATPASS_", extra="ignore")

    var_dir: Path = Path("./var")
    bus_url: str = "memory://localhost/"
    storage_url: str = ""  # empty: file://<var_dir>/objects
    storage_region: str = "us-east-1"
    upload_database_url: str = ""  # empty: sqlite:///<var_dir>/upload.db
    fingerprint_database_url: str = ""
    catalog_database_url: str = ""
    # Credentials kept apart from the URLs above, so a Kubernetes Secret that an operator reads
    # (RabbitMQ topology User, CloudNativePG role, MinIO Tenant user) is the very Secret a service
    # reads: when set, they replace the user and password of the URL (percent-encoded).
    bus_username: str = ""
    bus_password: str = ""
    storage_access_key: str = ""
    storage_secret_key: str = ""
    database_username: str = ""  # for whichever *_database_url this process uses
    database_password: str = ""
    # TLS: amqps:// and https:// URLs (and sslmode=verify-full&sslrootcert=... in a PostgreSQL
    # URL) verify their server against this PEM bundle; empty: the system's CAs.
    tls_ca_file: str = ""
    # SQLAlchemy pool per process (docs/operations.md "PostgreSQL connections" sizes them so the
    # sum over every replica fits the pooler): connections kept open, and extra ones under load.
    database_pool_size: int = 10
    database_max_overflow: int = 10
    # A process upgrades its own database when it starts (make run, compose, the dev overlay).
    # false: a release's migration Job does it once, and `python -m beatpass_common.schema SERVICE`
    # (the pods' init container) waits up to migration_wait_s for that schema instead.
    migrate_on_start: bool = True
    migration_wait_s: float = 900.0

    jwt_secret: str = ""  # HS256; empty and no public key: the dev secret in dev mode, else no start
    jwt_public_key: str = ""  # RS256 PEM; takes precedence over the secret
    jwt_audience: str = ""
    url_signing_secret: str = ""  # HMAC key of the gateway's signed media and event-stream URLs
    media_url_ttl_s: int = 3600  # a signed media link (waveform, cover) works this long at most
    events_url_ttl_s: int = 60  # an event-stream ticket must be used this soon (reconnects fetch a new one)
    internal_api_secret: str = ""  # the gateway's credential on the catalog's internal API

    http_port: int | None = None
    # /healthz, /readyz and /metrics on a port of their own that no Ingress routes (the API port
    # then answers 404 for them); unset: on the API port, as in make run.
    ops_port: int | None = None
    http_host: str = "127.0.0.1"
    catalog_url: str = "http://127.0.0.1:8084"  # the catalog's read API, for the gateway
    public_url: str = ""  # how producers reach the gateway; empty: http://<host>:<port>
    dev_mode: bool = False  # the upload page signs in a demo producer
    library_page_size: int = 10  # tracks or collections per page of the upload page's library
    gunicorn_workers: int = 2  # the gateway's processes under gunicorn
    gunicorn_threads: int = 16  # threads per process

    uploads_bucket: str = "beatpass-uploads"
    media_bucket: str = "beatpass-media"
    exchange: str = "beatpass.events"

    # bus behaviour
    prefetch: int = 4  # unacknowledged messages a consumer holds (catalog, upload)
    audio_prefetch: int = 1  # validation, waveform, fingerprint: nothing waits behind a busy handler
    retry_delays_s: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0])
    outbox_poll_s: float = 0.5
    bus_heartbeat_s: int = 30  # AMQP heartbeat; kept while a handler runs

    # hard limits per message, enforced by the runtime (beatpass_common.isolation)
    handler_isolation: bool = True  # false: the heavy work runs in the worker process, with no limits
    handler_time_limit_s: float = 300.0  # wall clock for one message's decode + analysis (child process)
    # Address space (RLIMIT_AS, virtual, not RSS) of that child. Measured on Python 3.11 / x86-64:
    # ~0.53 GB after importing numpy, scipy, librosa, soundfile and chromaprint, ~0.80 GB after a
    # librosa estimate (numba JIT); the rest is room for one message's blocks and images.
    handler_memory_limit_bytes: int = 4 * 1024**3
    estimate_time_limit_s: float = 60.0  # the optional BPM/key estimate; overrun: "not estimated"
    # Fingerprint index writers lock per content, not the whole index (docs/fingerprint-matching.md,
    # "Concurrency"): this many of a track's index keys (plus its exact hash and id). Each is one entry
    # in PostgreSQL's shared lock table (max_locks_per_transaction x max_connections, ~7,000 by default).
    fingerprint_lock_keys: int = 512
    fingerprint_lock_timeout_s: float = 30.0  # waiting for a concurrent lookup of the same content
    park_after_overruns: int = 2  # a message that timed out or killed its worker this often is parked
    shutdown_grace_s: float = 20.0  # SIGTERM: a handler in hand gets this long, then its child is killed
    liveness_slack_s: float = 30.0  # /healthz fails once a handler is busy past its time limit + this
    # Test-only fault injection, "<point>:<action>:<sha256 of the audio>" (docs/operations.md);
    # empty in every real deployment.
    test_fault: str = ""

    # uploads
    max_upload_bytes: int = 2 * 10**9  # "2 GB" in the refusal's words (media_rules.size: decimal units)
    upload_part_bytes: int = 8 * 1024 * 1024
    upload_expiry_s: int = 24 * 3600
    # Part buffers (upload_part_bytes each) one gateway process holds at most for all the PATCHes
    # it receives at once: its memory stays flat however many arrive (2: peak RSS ~145 MiB while
    # receiving 2 GiB in 4 parallel parts, docs/performance.md). A PATCH needs one while it reads a
    # part from its client and stores it (it waits up to upload_buffer_wait_s for one, then 503
    # UPLOAD_BUSY) and takes a second while one is free, to receive the next part while it stores
    # the last. More buffers let more slow clients send at once, at upload_part_bytes each.
    upload_part_buffers: int = 2
    upload_buffer_wait_s: float = 30.0
    # tus concatenation (parallel parts): a final upload joins at most this many partial uploads,
    # and every one but the last holds at least this many bytes (S3's smallest multipart part:
    # the final is assembled inside S3 from the partials, docs/api-limits.md)
    upload_concat_parts_max: int = 16
    upload_concat_part_min_bytes: int = 5 * 1024 * 1024
    # The upload page sends a file of at least upload_parallel_from_bytes as this many partial
    # uploads at once (fewer when a part would fall below upload_concat_part_min_bytes)
    upload_page_parallel_parts: int = 4
    upload_parallel_from_bytes: int = 64 * 1024 * 1024
    idempotency_ttl_s: int = 48 * 3600
    # A lock a gateway holds on a row (an Idempotency-Key in flight, a tus PATCH's upload) lasts
    # this long and is renewed every third of it while the work runs: a holder that dies lets go
    # within this time, one that lives keeps it however long the work takes.
    lease_s: float = 6.0
    upload_minutes_limit: int = 600
    upload_metadata_max_bytes: int = 4096  # the Upload-Metadata header as sent (base64 pairs)
    collection_tracks_max: int = 50  # tracks one collection save may hold; more is refused, never cut
    # An event stream of a track or collection the gateway accepted but the catalog has not
    # recorded yet asks the catalog this often, for at most this long, then ends (the client reconnects).
    catalog_catchup_poll_s: float = 1.0
    catalog_catchup_wait_s: float = 120.0

    # what one HTTP request to the gateway may look like (docs/api-limits.md); tus PATCH/POST
    # bodies are bounded by Upload-Length and max_upload_bytes instead
    json_body_max_bytes: int = 1024 * 1024  # larger: 413 BODY_TOO_LARGE
    json_depth_max: int = 32  # arrays/objects nested deeper: 400 BODY_INVALID
    http_header_max_bytes: int = 8190  # one header line (gunicorn limit_request_field_size): 431
    http_headers_max: int = 100  # header fields per request (gunicorn limit_request_fields): 431

    # audio and artwork rules
    bpm_min: int = 60
    bpm_max: int = 200
    audio_min_s: float = 10.0
    audio_max_s: float = 20 * 60.0
    audio_max_bytes: int = 2 * 10**9  # "2 GB" (media_rules.size: decimal units)
    sample_rate_min: int = 44_100
    sample_rate_max: int = 192_000
    silence_dbfs: float = -60.0
    # Float audio may go past full scale (0 dBFS); beyond this it is refused (AUDIO_FLOAT_OUT_OF_RANGE):
    # players, the waveform and the fingerprint clip at 0 dBFS, so such a master is not what plays.
    float_peak_max_dbfs: float = 6.0
    cover_min_px: int = 1000
    cover_max_px: int = 6000
    cover_max_bytes: int = 20 * 10**6  # "20 MB"
    cover_square_tolerance: float = 0.01
    # Decoding cost that file size and pixel count do not bound: a progressive JPEG decoder passes
    # over the whole image once per scan (encoders write up to ~20), and PNG chunks / JPEG marker
    # segments are parsed one by one (libpng writes 8 KiB IDAT chunks: ~2,600 in a 20 MiB file).
    cover_max_scans: int = 64
    cover_max_chunks: int = 20_000
    # The cover's decode and derivatives, a child call of its own (a 6,000 px image takes ~2 s);
    # past this the image is refused (COVER_TOO_COMPLEX): the hard limit is only the backstop.
    cover_time_limit_s: float = 30.0
    # The gateway reads a cover's dimensions at upload completion from at most this many first
    # bytes (Pillow walks a JPEG header byte by byte: ~3 s per MiB of crafted header); a header
    # longer than that (rare: huge metadata) leaves the size check to validation.
    cover_header_max_bytes: int = 256 * 1024

    # waveform
    waveform_samples_per_pixel: int = 256
    waveform_bits: int = 8
    waveform_pixels_per_second: int | None = None  # set: overrides samples_per_pixel
    waveform_split_channels: bool = False
    waveform_png_width: int = 1800
    waveform_png_height: int = 280
    waveform_png_color: str = "#3b82f6"
    waveform_png_background: str = "#ffffff"

    # catalog deadlines
    step_deadline_s: float = 600.0  # from the moment a worker starts the step (step.started)
    step_attempts: int = 3  # a stuck step is started this many times in all before it fails
    # a queued step (no step.started yet) whose queue HAS consumers is re-driven after this; a
    # backlog while no worker consumes the queue is never failed
    step_queue_deadline_s: float = 1800.0
    step_slow_after_s: float = 120.0  # the upload page says a running step takes longer than usual
    bus_inspect_timeout_s: float = 5.0  # the reaper's look at a queue's consumer count
    reaper_interval_s: float = 30.0
    # the gateway expires abandoned uploads and old idempotency keys this often
    housekeeping_interval_s: float = 60.0

    @model_validator(mode="after")
    def _credentials_into_urls(self) -> Settings:
        self.bus_url = with_credentials(self.bus_url, self.bus_username, self.bus_password)
        self.storage_url = with_credentials(self.storage_url, self.storage_access_key, self.storage_secret_key)
        for name in ("upload_database_url", "fingerprint_database_url", "catalog_database_url"):
            setattr(self, name, with_credentials(getattr(self, name), self.database_username, self.database_password))
        return self

    def bus_ssl(self) -> bool | dict:
        """kombu's ``ssl`` option: TLS for amqps:// URLs, verified against ``tls_ca_file`` when set."""
        if urlsplit(self.bus_url).scheme not in {"amqps", "pyamqps"}:
            return False
        return {"ca_certs": self.tls_ca_file, "cert_reqs": ssl.CERT_REQUIRED} if self.tls_ca_file else True

    def database_pool(self) -> dict[str, int]:
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}

    def database_url(self, service: str) -> str:
        url = getattr(self, f"{service}_database_url")
        return url or f"sqlite:///{(self.var_dir / f'{service}.db').resolve()}"

    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.var_dir / 'objects').resolve()}"

    def port_for(self, service: str) -> int:
        return self.http_port if self.http_port is not None else DEFAULT_PORTS[service]

    @property
    def uses_dev_secret(self) -> bool:
        return not (self.jwt_secret or self.jwt_public_key)

    def secret(self, name: str) -> str:
        """The configured ``jwt_secret``/``url_signing_secret``/``internal_api_secret``, the dev value in
        dev mode; raises MissingSecret when neither applies."""
        value = getattr(self, name)
        if value:
            return value
        if self.dev_mode:
            return DEV_SECRETS[name]
        raise MissingSecret(self.missing_message([name]))

    def require_secrets(self, service: str, names: list[str]) -> None:
        """Refuse to build ``service`` (MissingSecret, with the sentence an operator reads) when a
        key it needs is missing outside dev mode. ``jwt_secret`` is also satisfied by ``jwt_public_key``."""
        if self.dev_mode:
            return
        missing = [n for n in names if not getattr(self, n) and not (n == "jwt_secret" and self.jwt_public_key)]
        if missing:
            raise MissingSecret(f"beatpass-{service} cannot start: {self.missing_message(missing)}")

    @staticmethod
    def missing_message(names: list[str]) -> str:
        variables = ", ".join(
            "BEATPASS_JWT_SECRET or BEATPASS_JWT_PUBLIC_KEY" if n == "jwt_secret" else f"BEATPASS_{n.upper()}"
            for n in names
        )
        return (
            f"{variables} not set. Outside dev mode (BEATPASS_DEV_MODE) every key must be provisioned "
            "(docs/operations.md, Secrets)."
        )


def with_credentials(url: str, username: str, password: str) -> str:
    """``url`` with its user and password replaced by ``username``/``password`` (percent-encoded);
    ``url`` unchanged when both are empty or it is empty."""
    if not url or not (username or password):
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    auth = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{auth}@{host}"))


@lru_cache
def get_settings() -> Settings:
    return Settings()
