"""The producer upload page at /backstage/upload (static assets bundled at build time).

The page's scripts come from services/upload/frontend, bundled by ``npm run build`` (run by
scripts/bootstrap.sh) into static/; nothing is fetched from a CDN.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory

from beatpass_common.auth import mint_dev_token

from .access import PRODUCER_ACCESS_MESSAGE
from .responses import page_policy

STATIC = Path(__file__).with_name("static")
BUNDLE = STATIC / "upload.js"

bp = Blueprint("page", __name__, template_folder="templates")  # Jinja loads and caches it once

# What the page offers only where this gateway serves it: feature -> (method, route, variables as <>).
FEATURES = {
    "collectionsList": ("GET", "/api/v1/collections"),
    "uploadInspection": ("GET", "/api/v1/uploads/<>"),
    "editTrack": ("PATCH", "/api/v1/tracks/<>"),
    "editCollection": ("PATCH", "/api/v1/collections/<>"),
    "replaceTrack": ("POST", "/api/v1/tracks/<>/replace"),
}
_VARIABLE = re.compile(r"<[^>]*>")


def features(app) -> dict[str, bool]:
    """Which optional routes the app serves, read from its URL map: the page hides what is
    missing instead of probing routes (a probe's 404/405 would be a console error in the browser)."""
    served = {
        (method, _VARIABLE.sub("<>", rule.rule)) for rule in app.url_map.iter_rules() for method in rule.methods or ()
    }
    return {name: key in served for name, key in FEATURES.items()}


@bp.get("/backstage/upload")
def upload_page():
    gw = current_app.extensions["beatpass"]
    # In dev mode the page signs in a demo approved producer, so nobody copies tokens around.
    dev_token = mint_dev_token(gw.settings, "demo-producer") if gw.settings.dev_mode else ""
    built = BUNDLE.is_file()
    version = str(int(BUNDLE.stat().st_mtime)) if built else "0"
    # The page's settings travel as a JSON data block, never as inline script (the CSP forbids it);
    # the nonce lets the waveform library's one <style> element in.
    nonce = secrets.token_urlsafe(16)
    config = {
        "devToken": dev_token,
        "messages": {"PRODUCER_ACCESS_REQUIRED": PRODUCER_ACCESS_MESSAGE},
        "styleNonce": nonce,
        "features": features(current_app),
        "libraryPageSize": gw.settings.library_page_size,
        # large files go as parallel partial uploads joined by a final one (tus concatenation)
        "uploads": {
            "partBytes": gw.settings.upload_part_bytes,
            "parallelParts": gw.settings.upload_page_parallel_parts,
            "parallelFromBytes": gw.settings.upload_parallel_from_bytes,
            "partMinBytes": gw.settings.upload_concat_part_min_bytes,
        },
    }
    response = current_app.make_response(render_template("upload.html", config=config, built=built, version=version))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = page_policy(nonce)
    return response


@bp.get("/backstage/static/<path:name>")
def static_asset(name):
    return send_from_directory(STATIC, name, max_age=300)
