"""An upload whose connection drops mid-file continues from the server's offset: first in the page
(tus retries), then after a page reload (the fingerprint kept in localStorage)."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CHUNK = 5 * 1024 * 1024


def test_upload_interrupted_and_resumed_from_the_server_offset(platform_env, browser_page, media, token_for, shot):
    # Uploads need only the gateway; in dev mode the page signs in the demo producer by itself.
    platform_env.start("upload", BEATPASS_DEV_MODE="true")
    page = browser_page
    token = token_for(platform_env, "demo-producer")
    tus_headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    size = media["long"].stat().st_size
    assert size > 2 * CHUNK

    calls = []  # (method, url, Upload-Offset) of every tus request the page makes
    created = []
    page.on(
        "request",
        lambda r: "/api/v1/uploads" in r.url and calls.append((r.method, r.url, r.headers.get("upload-offset"))),
    )
    page.on(
        "response",
        lambda r: r.request.method == "POST"
        and "/api/v1/uploads" in r.url
        and created.append(r.headers.get("location")),
    )

    patches = []

    def network(route):
        if route.request.method == "PATCH":
            patches.append(route.request.headers.get("upload-offset"))
            n = len(patches)
            # 1st chunk arrives; the connection drops twice on the 2nd; it then gets through;
            # from the 3rd chunk on, the connection is gone until the page is reloaded.
            if n in (2, 3) or n >= 5:
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/uploads**", network)
    page.goto(f"{platform_env.url}/backstage/upload")
    expect(page.locator("#who")).to_contain_text("demo-producer")
    page.evaluate("""() => { window.__seen = new Set(); new MutationObserver(() => {
        document.querySelectorAll('.file-bytes').forEach(el => window.__seen.add(el.textContent)); })
        .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])

    # In the page: the dropped connection is retried and continues from the server's offset.
    page.wait_for_function(
        "() => document.querySelector('#panel-single [data-slot=audio] .file-progress')?.dataset.state === 'retrying'"
    )
    shot(page, "resume-connection-dropped")
    for _ in range(200):
        if len(patches) >= 5:
            break
        page.wait_for_timeout(100)
    assert len(patches) >= 5, patches
    assert patches[:4] == ["0", str(CHUNK), str(CHUNK), str(CHUNK)], patches  # resumed at 5 MiB, not 0
    assert len(created) == 1
    upload_url = created[0]
    head = requests.head(upload_url, headers=tus_headers, timeout=10)
    assert int(head.headers["Upload-Offset"]) == 2 * CHUNK
    seen = page.evaluate("[...window.__seen]")
    assert any(t.endswith("B/s") for t in seen), seen  # bytes, percent and speed
    shot(page, "resume-before-reload")

    # A reload (or a closed tab): picking the same file continues the same upload from the server's offset.
    page.reload()
    page.unroute("**/api/v1/uploads**")
    mark = len(calls)
    notice = page.locator(".unfinished")
    expect(notice).to_contain_text("Long_Take.wav")
    expect(notice).to_contain_text("10.5 MB of 12.3 MB (84 %)")
    shot(page, "resume-after-reload")
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])
    expect(notice).to_have_count(0)
    expect(slot.locator(".file-progress")).to_have_attribute("data-state", "done")
    after = calls[mark:]
    assert not [c for c in after if c[0] == "POST"], after  # no new upload was created
    assert ("HEAD", upload_url) in [c[:2] for c in after], after
    patched = [c for c in after if c[0] == "PATCH"]
    assert patched[0] == ("PATCH", upload_url, str(2 * CHUNK)), after
    expect(slot.locator(".resumed")).to_contain_text("Resumed at 10.5 MB")
    expect(slot.locator(".file-bytes")).to_contain_text("100 %")
    head = requests.head(upload_url, headers=tus_headers, timeout=10)
    assert int(head.headers["Upload-Offset"]) == int(head.headers["Upload-Length"]) == size
    shot(page, "resume-done")
    assert not page.console_errors
    assert not page.foreign_requests
