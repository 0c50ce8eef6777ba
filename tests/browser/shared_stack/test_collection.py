"""A collection with one bad item: the others go ready, the bad one is fixed and retried alone."""

from __future__ import annotations

import base64

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _details(item, bpm: str):
    item.get_by_label("Artists").fill("Kai, Mira")
    item.get_by_label("BPM").fill(bpm)
    item.get_by_label("Key").select_option("C#")
    item.get_by_label("Scale").select_option("major")
    item.get_by_label("Licensing").select_option("exclusive")


def test_collection_with_a_bad_item_fixed_and_retried_alone(stack, browser_page, media, token_for, shot, fits):
    platform = stack  # shared by this package's tests (conftest.stack)
    page = browser_page
    token = token_for(platform, "producer-album")
    auth = {"Authorization": f"Bearer {token}"}
    rules = requests.get(f"{platform.url}/api/v1/rules", timeout=10).json()["messages"]
    page.goto(f"{platform.url}/backstage/upload#token={token}")

    tab = page.get_by_role("tab", name="Single track", exact=True)
    tab.focus()
    page.keyboard.press("ArrowRight")  # the mode tabs work from the keyboard
    expect(page.get_by_role("tab", name="Collection", exact=True)).to_have_attribute("aria-selected", "true")
    form = page.locator("#panel-collection")
    save = form.get_by_role("button", name="Save collection")
    expect(save).to_be_disabled()
    expect(form.locator(".reasons")).to_contain_text(rules["COLLECTION_TITLE_REQUIRED"])
    expect(form.locator(".reasons")).to_contain_text(rules["COLLECTION_COVER_REQUIRED"])
    expect(form.locator(".reasons")).to_contain_text(f"Track 1: {rules['AUDIO_REQUIRED']}")

    form.get_by_label("Collection title").fill("Late Night Tape")
    # The album cover is dragged and dropped onto its zone.
    data = base64.b64encode(media["cover2"].read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, {type: "image/jpeg"}));
        return dt; }""",
        [media["cover2"].name, data],
    )
    zone = form.locator(".collection-head [data-slot=cover] .dropzone")
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(form.locator(".collection-head [data-slot=cover] .file-name")).to_contain_text("album.jpg")
    # Several WAVs at once: one item each, titled from the file names.
    # One of them silent: only validation (which reads every sample) can refuse it, after Save.
    form.locator("#collection-add-files").set_input_files([media["other"], media["silent"]])
    items = form.locator(".collection-item")
    expect(items).to_have_count(2)
    expect(items.nth(0).get_by_label("Title", exact=True)).to_have_value("Moonlight")
    expect(items.nth(1).get_by_label("Title", exact=True)).to_have_value("Quiet Room")
    _details(items.nth(0), "120")
    expect(form.locator(".reasons")).to_contain_text(f"Track 2: {rules['BPM_REQUIRED']}")
    _details(items.nth(1), "95")
    expect(save).to_be_enabled()
    shot(page, "collection-filled-desktop")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits(page)
    shot(page, "collection-filled-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    save.click()

    card = page.locator(".results .collection-card").first
    expect(card).to_be_visible()
    expect(card).to_have_attribute("data-status", "partial", timeout=90_000)
    good, bad = card.locator(".track-card").nth(0), card.locator(".track-card").nth(1)
    expect(good).to_have_attribute("data-status", "ready")
    expect(bad).to_have_attribute("data-status", "rejected")
    good_id, bad_id = good.get_attribute("data-track-id"), bad.get_attribute("data-track-id")
    view = requests.get(f"{platform.url}/api/v1/tracks/{bad_id}", headers=auth, timeout=10).json()
    assert view["errors"], view
    expect(bad.locator(".messages.error li")).to_have_text([e["message"] for e in view["errors"]])
    expect(good.locator(".waveform")).to_have_attribute("data-drawn", "true")
    before = {
        t["id"]: t["submission"]
        for t in requests.get(
            f"{platform.url}/api/v1/collections/{card.get_attribute('data-collection-id')}", headers=auth, timeout=10
        ).json()["items"]
    }
    shot(page, "collection-partial")

    # Retry only the bad item, with a replacement file.
    bad.get_by_role("button", name="Retry").click()
    panel = bad.locator(".retry-panel")
    expect(panel.get_by_label("BPM")).to_have_value("95")  # the saved details are kept
    panel.locator("[data-slot=audio] input[type=file]").set_input_files(media["fixed2"])
    expect(panel.locator("[data-slot=audio] .file-progress")).to_have_attribute("data-state", "done")
    shot(page, "collection-retry-panel")
    panel.get_by_role("button", name="Retry this track").click()
    expect(bad).to_have_attribute("data-status", "ready", timeout=90_000)
    expect(card).to_have_attribute("data-status", "ready", timeout=30_000)
    expect(bad.locator(".waveform")).to_have_attribute("data-drawn", "true")

    collection = requests.get(
        f"{platform.url}/api/v1/collections/{card.get_attribute('data-collection-id')}", headers=auth, timeout=10
    ).json()
    assert collection["status"] == "ready"
    by_id = {t["id"]: t for t in collection["items"]}
    assert by_id[good_id]["submission"] == before[good_id], "the good item was not sent again"
    assert by_id[bad_id]["submission"] == before[bad_id] + 1
    assert abs(by_id[bad_id]["facts"]["duration_s"] - 13) < 0.01
    shot(page, "collection-ready-desktop")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits(page)
    card.scroll_into_view_if_needed()
    shot(page, "collection-ready-phone")
    assert not page.console_errors
    assert not page.foreign_requests
