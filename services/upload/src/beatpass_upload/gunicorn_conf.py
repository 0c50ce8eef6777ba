"""gunicorn settings for the gateway: threaded workers, Prometheus multiprocess metrics, and a
drain on shutdown (the bus consumer finishes its message, the outbox flushes)."""

import os

import gunicorn.util
from prometheus_client import multiprocess

from beatpass_common.config import get_settings
from beatpass_common.http_errors import write_gunicorn_error

# gunicorn answers malformed requests itself (400, 414, 431, ...) with an HTML page: ours are
# problem documents. Its Server header is plain "gunicorn", with no version.
gunicorn.util.write_error = write_gunicorn_error

_settings = get_settings()
# the API, and /healthz, /readyz, /metrics on their own port when BEATPASS_OPS_PORT is set (the
# app dispatches by the port a request arrived on: beatpass_common.http.PortDispatch)
bind = [f"0.0.0.0:{_settings.port_for('upload')}"] + ([f"0.0.0.0:{_settings.ops_port}"] if _settings.ops_port else [])
workers = _settings.gunicorn_workers
worker_class = "gthread"
threads = _settings.gunicorn_threads
timeout = 300  # a PATCH of one large chunk on a slow link
graceful_timeout = 120
keepalive = 75
limit_request_field_size = _settings.http_header_max_bytes
limit_request_fields = _settings.http_headers_max
accesslog = None
worker_tmp_dir = "/tmp"  # a writable emptyDir under a read-only root filesystem


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:  # start each run with no stale samples from dead processes
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def worker_exit(server, worker):
    from beatpass_upload import wsgi

    wsgi.runtime.stop()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
