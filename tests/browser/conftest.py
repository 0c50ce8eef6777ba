"""Headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser) driving the upload
page of a platform running as OS processes on RabbitMQ, PostgreSQL and S3 (tests/conftest.py)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from beatpass_common.auth import mint_dev_token
from beatpass_common.config import Settings
from beatpass_common.testing.media import beat_wav, cover_bytes, wav_bytes

CHROMIUM = os.environ.get("BEATPASS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
BUNDLE = Path(__file__).resolve().parents[2] / "services/upload/src/beatpass_upload/static/upload.js"


@pytest.fixture(scope="session")
def chromium():
    # make test installs both (scripts/bootstrap.sh): a missing one is a failure, never a skip.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is not installed: run scripts/bootstrap.sh test (apt-get install chromium)")
    if not BUNDLE.exists():
        pytest.fail("the upload page bundle is missing: run scripts/bootstrap.sh (npm ci && npm run build)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=1)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    # The page runs under a CSP with no inline script: anything it refuses fails the test.
    page.csp_violations = []
    page.on(
        "console",
        lambda msg: msg.type == "error"
        and "Content Security Policy" in msg.text
        and page.csp_violations.append(msg.text),
    )
    # Everything the page needs comes from the gateway: nothing from a CDN.
    page.foreign_requests = []
    page.on(
        "request",
        lambda r: r.url.startswith(("http://127.0.0.1:", "data:", "blob:")) or page.foreign_requests.append(r.url),
    )
    yield page
    context.close()
    assert page.csp_violations == [], page.csp_violations


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Files for the pickers, named the way a producer's would be."""
    root = tmp_path_factory.mktemp("media")
    files = {
        "beat": ("Night_Drive.wav", beat_wav(14, seed=11)),
        "other": ("Moonlight.wav", beat_wav(12, seed=23)),
        "short": ("Too_Short.wav", beat_wav(5, seed=31)),
        "fixed": ("Too_Short_full.wav", beat_wav(13, seed=37)),
        "fixed2": ("Quiet_Room_take2.wav", beat_wav(13, seed=39)),
        "long": ("Long_Take.wav", beat_wav(70, seed=41)),
        "cover": ("cover.jpg", cover_bytes(1200)),
        "cover2": ("album.jpg", cover_bytes(1100, color=(30, 90, 160))),
        "small_cover": ("small.jpg", cover_bytes(600, height=400)),
        "silent": ("Quiet_Room.wav", wav_bytes(np.zeros((11 * 44_100, 2)))),
    }
    out = {}
    for key, (name, data) in files.items():
        path = root / name
        path.write_bytes(data)
        out[key] = path
    # An MP3 named .wav, made by a real encoder (lame, installed by bootstrap for tests).
    source = root / "mp3-source.wav"
    source.write_bytes(beat_wav(3, seed=71))
    out["mp3"] = root / "Fake_Beat.wav"
    subprocess.run(["lame", "--quiet", str(source), str(out["mp3"])], check=True)
    return out


# The two sizes every issue-15 point is shown on.
SIZES = {
    "desktop": {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}


@pytest.fixture
def open_session(chromium):
    """``open_session(size)``: a new browser context (a fresh device: no storage) of that size
    with clipboard access, and its page. Every console error and page error of the whole
    session is collected in ``page.errors`` and must be none when the test ends, except those a
    test announces in ``page.expected_errors`` (regular expressions, each matching exactly one:
    Chromium logs every 4xx answer, also one the test provokes on purpose)."""
    contexts = []

    def open_(size: str):
        context = chromium.new_context(**SIZES[size], permissions=["clipboard-read", "clipboard-write"])
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.errors = []
        page.expected_errors = []
        page.on(
            "console",
            lambda msg: msg.type == "error" and page.errors.append(f"console: {msg.text} ({msg.location.get('url')})"),
        )
        page.on("pageerror", lambda exc: page.errors.append(f"page: {exc}"))
        contexts.append((context, page))
        return page

    yield open_
    errors = []
    for context, page in contexts:
        context.close()
        unexpected = list(page.errors)
        for pattern in page.expected_errors:
            found = [e for e in unexpected if re.search(pattern, e)]
            assert len(found) == 1, (pattern, page.errors)
            unexpected.remove(found[0])
        errors += unexpected
    assert errors == [], errors


@pytest.fixture
def token_for():
    def mint(platform, producer: str, **claims) -> str:
        return mint_dev_token(Settings(jwt_secret=platform.env["BEATPASS_JWT_SECRET"]), producer, **claims)

    return mint


@pytest.fixture
def shot():
    """Screenshot into test-artifacts/browser/<name>.png."""

    def take(page, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


def fits_width(page) -> bool:
    """No horizontal scrolling: the page is usable at this width."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.fixture
def fits():
    return fits_width
