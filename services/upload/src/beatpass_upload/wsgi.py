"""The gateway under gunicorn: each worker process builds the gateway and runs its loops.

gunicorn -c python:beatpass_upload.gunicorn_conf beatpass_upload.wsgi:app
"""

from beatpass_common.config import get_settings
from beatpass_common.logs import setup_logging

from .service import build

setup_logging("upload")
runtime = build(get_settings())
runtime.start(serve_http=False)
app = runtime.wsgi()
