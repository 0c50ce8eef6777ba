"""A large file goes from the page as partial uploads at once (tus-js-client parallelUploads),
joined by a final upload the gateway assembles in S3; dropped connections of a part are retried
from that part's server offset, and a reload continues the same parts."""

from __future__ import annotations

import hashlib

import pytest
import requests
from playwright.sync_api import expect

from beatpass_common import keys
from beatpass_common.storage import open_store

pytestmark = pytest.mark.browser

MiB = 1024 * 1024


def test_a_large_file_is_sent_in_parallel_parts_and_resumed(platform_env, browser_page, media, token_for, shot):
    # the "long" beat (12.3 MB) counts as large here: two parts of at least 5 MiB, each sent in
    # chunks of one 5 MiB part of the gateway's
    platform_env.start(
        "upload",
        BEATPASS_DEV_MODE="true",
        BEATPASS_UPLOAD_PARALLEL_FROM_BYTES=str(8 * MiB),
        BEATPASS_UPLOAD_PAGE_PARALLEL_PARTS="4",
        BEATPASS_UPLOAD_PART_BYTES=str(5 * MiB),
    )
    page = browser_page
    token = token_for(platform_env, "demo-producer")
    tus_headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
    data = media["long"].read_bytes()

    posts = []  # (Upload-Concat, Location) of every creation
    page.on(
        "response",
        lambda r: r.request.method == "POST"
        and r.url.endswith("/api/v1/uploads")
        and posts.append((r.request.headers.get("upload-concat"), r.headers.get("location"), r.status)),
    )
    patches = []  # (url, Upload-Offset, dropped)

    def network(route):
        if route.request.method == "PATCH":
            url, offset = route.request.url, route.request.headers.get("upload-offset")
            dropped = offset != "0" and not any(p[0] == url and p[2] for p in patches)
            patches.append((url, offset, dropped))
            if dropped:  # each part's connection drops once after its first chunk
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/uploads**", network)
    page.goto(f"{platform_env.url}/backstage/upload")
    expect(page.locator("#who")).to_contain_text("demo-producer")
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])
    expect(slot.locator(".file-progress")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(slot.locator(".file-bytes")).to_contain_text("100 %")

    partials = [p for p in posts if p[0] == "partial"]
    finals = [p for p in posts if (p[0] or "").startswith("final;")]
    assert len(partials) == 2 and all(status == 201 for *_, status in partials), posts
    assert len(finals) == 1 and finals[0][2] == 201, posts
    assert sorted(finals[0][0].removeprefix("final;").split()) == sorted(location for _, location, _ in partials)
    # both parts were sent, each resumed at its own offset after its dropped connection
    for _, location, _ in partials:
        sent = [p for p in patches if p[0] == location]
        dropped = [p for p in sent if p[2]]
        assert len(dropped) == 1, sent
        assert sent[sent.index(dropped[0]) + 1][1] == dropped[0][1], sent  # the same offset again, not 0
    final_url = finals[0][1]
    head = requests.head(final_url, headers=tus_headers, timeout=10)
    assert int(head.headers["Upload-Offset"]) == int(head.headers["Upload-Length"]) == len(data)
    assert head.headers["Upload-Concat"].startswith("final;")
    state = requests.get(final_url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    assert state["filename"] == "Long_Take.wav" and state["inspection"]["problems"] == []
    assert round(state["inspection"]["facts"]["duration_s"]) == 70

    store = open_store(platform_env.env["BEATPASS_STORAGE_URL"])
    upload_id = final_url.rsplit("/", 1)[1]
    digest = hashlib.sha256()
    with store.open(platform_env.env["BEATPASS_UPLOADS_BUCKET"], keys.upload_key("demo-producer", upload_id)) as f:
        while chunk := f.read(MiB):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    shot(page, "parallel-upload-done")

    # Picking the same file again after a reload: the same parts (complete) and the same final, nothing sent again.
    page.unroute("**/api/v1/uploads**")
    page.reload()
    mark = len(posts)
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])
    expect(slot.locator(".file-progress")).to_have_attribute("data-state", "done", timeout=30_000)
    again = posts[mark:]
    assert [p[0] for p in again] == [finals[0][0]] and again[0][1] == final_url, again
    assert not page.console_errors
    assert not page.foreign_requests


def test_a_parallel_upload_left_by_a_reload_continues_its_parts(platform_env, browser_page, media, shot):
    platform_env.start(
        "upload",
        BEATPASS_DEV_MODE="true",
        BEATPASS_UPLOAD_PARALLEL_FROM_BYTES=str(8 * MiB),
        BEATPASS_UPLOAD_PAGE_PARALLEL_PARTS="4",
        BEATPASS_UPLOAD_PART_BYTES=str(5 * MiB),
    )
    page = browser_page
    posts, patches = [], []
    page.on(
        "response",
        lambda r: r.request.method == "POST"
        and r.url.endswith("/api/v1/uploads")
        and posts.append((r.request.headers.get("upload-concat"), r.headers.get("location"))),
    )
    page.on("request", lambda r: r.method == "PATCH" and patches.append((r.url, r.headers.get("upload-offset"))))

    def network(route):  # each part's first chunk gets through, then the connection is gone
        if route.request.method == "PATCH" and route.request.headers.get("upload-offset") != "0":
            return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/uploads**", network)
    page.goto(f"{platform_env.url}/backstage/upload")
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])
    for _ in range(300):
        if len({url for url, offset in patches if offset == str(5 * MiB)}) == 2:
            break
        page.wait_for_timeout(100)
    parts = [location for concat, location in posts if concat == "partial"]
    assert len(parts) == 2 and not [p for p in posts if p[0] != "partial"], posts

    page.reload()
    page.unroute("**/api/v1/uploads**")
    notice = page.locator(".unfinished")
    expect(notice).to_contain_text("Long_Take.wav")
    expect(notice).to_contain_text("10.5 MB of 12.3 MB (84 %)")  # both parts' offsets
    shot(page, "parallel-resume-after-reload")
    mark_posts, mark_patches = len(posts), len(patches)
    slot = page.locator("#panel-single [data-slot=audio]")
    slot.locator("input[type=file]").set_input_files(media["long"])
    expect(slot.locator(".file-progress")).to_have_attribute("data-state", "done", timeout=60_000)
    after = posts[mark_posts:]
    assert len(after) == 1 and sorted(after[0][0].removeprefix("final;").split()) == sorted(parts), (
        after
    )  # no part anew
    assert sorted(patches[mark_patches:]) == sorted((url, str(5 * MiB)) for url in parts)
    assert not page.console_errors
