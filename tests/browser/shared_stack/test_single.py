"""A single track from an empty form to ready with the waveform drawn; a duplicate, disputed;
a rejected track retried with a new file."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _fill(scope, *, title=None, artists="Kai", bpm="120", key="A", scale="minor", licensing="non_exclusive"):
    if title is not None:
        scope.get_by_label("Title", exact=True).fill(title)
    scope.get_by_label("Artists").fill(artists)
    scope.get_by_label("BPM").fill(bpm)
    scope.get_by_label("Key").select_option(key)
    scope.get_by_label("Scale").select_option(scale)
    scope.get_by_label("Licensing").select_option(licensing)


def test_single_upload_to_ready_with_waveform_then_duplicate_dispute(stack, browser_page, media, token_for, shot, fits):
    platform = stack  # shared by this package's tests (conftest.stack)
    page = browser_page
    token = token_for(platform, "producer-page")
    auth = {"Authorization": f"Bearer {token}"}
    rules = requests.get(f"{platform.url}/api/v1/rules", timeout=10).json()["messages"]
    streams = []
    page.on("request", lambda r: "/events?" in r.url and streams.append(r.url))
    fetched = []
    page.on("request", lambda r: "/media/" in r.url and fetched.append(r))

    page.goto(f"{platform.url}/backstage/upload#token={token}")
    assert "token=" not in page.url  # taken out of the address bar, kept in sessionStorage
    form = page.locator("#panel-single")
    save = form.get_by_role("button", name="Save track")
    expect(save).to_be_disabled()
    reasons = form.locator(".reasons")
    for code in (
        "AUDIO_REQUIRED",
        "COVER_REQUIRED",
        "TITLE_REQUIRED",
        "ARTISTS_REQUIRED",
        "BPM_REQUIRED",
        "KEY_REQUIRED",
        "SCALE_REQUIRED",
        "LICENSING_REQUIRED",
    ):
        expect(reasons).to_contain_text(rules[code])
    expect(page.locator(".minutes")).to_contain_text("600:00 of 600:00 left")
    # Every control has a label.
    unlabelled = page.evaluate("""[...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')).map(el => el.outerHTML)""")
    assert unlabelled == []
    shot(page, "single-empty-desktop")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits(page)
    shot(page, "single-empty-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Inline messages are the API's sentences.
    bpm = form.get_by_label("BPM")
    bpm.fill("300")
    bpm.blur()
    expect(form.locator("[data-field=bpm] .field-error")).to_have_text(rules["BPM_INVALID"])
    form.get_by_label("Title", exact=True).focus()
    form.get_by_label("Title", exact=True).blur()
    expect(form.locator("[data-field=title] .field-error")).to_have_text(rules["TITLE_REQUIRED"])

    # What only the gateway can judge (the file's real content) comes back in its words on the file
    # card as soon as the upload completes, and Save waits for a fix.
    form.locator("[data-slot=audio] input[type=file]").set_input_files(media["cover"])
    form.locator("[data-slot=cover] input[type=file]").set_input_files(media["cover"])
    _fill(form, title="Night Drive")
    audio_problem = form.locator("[data-slot=audio] .problem-message")
    expect(audio_problem).to_have_text(re.compile(r"^This file is a JPEG image, not WAV\."))
    expect(form.locator("[data-slot=audio] .problem-code")).to_have_text("AUDIO_NOT_WAV")
    expect(save).to_be_disabled()  # until the audio is replaced
    expect(reasons).to_contain_text(audio_problem.inner_text())
    shot(page, "single-server-error")

    form.locator("[data-slot=audio] input[type=file]").set_input_files(media["beat"])
    expect(audio_problem).to_have_count(0)
    expect(form.locator("[data-slot=audio] .minutes-note")).to_have_text(
        "This track is 0:14 long; you have 600:00 of upload minutes left."
    )
    expect(form.locator("[data-field=bpm] .field-error")).to_be_empty()
    expect(form.locator("[data-slot=audio] .file-progress")).to_have_attribute("data-state", "done")
    expect(form.locator("[data-slot=cover] .file-progress")).to_have_attribute("data-state", "done")
    expect(form.locator("[data-slot=audio] .file-bytes")).to_contain_text("100 %")
    expect(save).to_be_enabled()
    expect(reasons).to_contain_text("Everything required is here.")
    shot(page, "single-filled")
    save.click()

    card = page.locator(".results .track-card").first
    expect(card).to_be_visible()
    expect(form.get_by_label("Title", exact=True)).to_have_value("")  # the form is ready for the next track
    expect(card).to_have_attribute("data-status", "ready", timeout=90_000)
    for step in ("validation", "waveform", "fingerprint"):
        expect(card.locator(f"[data-step={step}]")).to_have_attribute("data-state", "done")
    waveform = card.locator(".waveform")
    expect(waveform).to_have_attribute("data-drawn", "true")
    assert int(waveform.get_attribute("data-points")) > 100
    expect(waveform.locator("canvas").first).to_be_visible()  # wavesurfer draws into its shadow root
    cover = card.locator("img.card-cover")
    expect(cover).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=cover.element_handle())
    assert streams, "status came from the SSE stream"
    # No bearer token in any URL: streams use tickets, media signed links (the <img> sends no header).
    assert all("signature=" in url and "access_token" not in url and token not in url for url in streams)
    covers = [r for r in fetched if "cover-" in r.url]
    assert covers and all("signature=" in r.url and "authorization" not in r.headers for r in covers)
    assert all(token not in r.url for r in fetched)
    track_id = card.get_attribute("data-track-id")
    me = requests.get(f"{platform.url}/api/v1/me", headers=auth, timeout=10).json()
    assert me["upload_minutes"]["used"] > 0
    expect(page.locator(".minutes-value")).to_have_attribute("data-used", str(me["upload_minutes"]["used"]))
    shot(page, "single-ready-desktop")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits(page)
    card.scroll_into_view_if_needed()
    shot(page, "single-ready-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The same audio again: rejected as a duplicate of "Night Drive", with a Dispute button.
    form.locator("[data-slot=audio] input[type=file]").set_input_files(media["beat"])
    form.locator("[data-slot=cover] input[type=file]").set_input_files(media["cover"])
    _fill(form, title="Night Drive (again)")
    expect(save).to_be_enabled()
    save.click()
    dup = page.locator(".results .track-card").first
    expect(dup).not_to_have_attribute("data-track-id", track_id)
    expect(dup).to_have_attribute("data-status", "rejected", timeout=90_000)
    view = requests.get(
        f"{platform.url}/api/v1/tracks/{dup.get_attribute('data-track-id')}", headers=auth, timeout=10
    ).json()
    assert view["errors"][0]["code"] == "DUPLICATE_AUDIO"
    expect(dup.locator(".messages.error li").first).to_have_text(view["errors"][0]["message"])
    expect(dup.locator(".duplicate")).to_contain_text("“Night Drive”")
    expect(dup.get_by_role("button", name="Retry")).to_be_visible()
    shot(page, "single-duplicate")
    dup.get_by_role("button", name="Dispute").click()
    dup.get_by_label("Why is this not a duplicate?").fill("This is a new mix with different drums.")
    dup.get_by_role("button", name="Send dispute").click()
    expect(dup).to_have_attribute("data-status", "in_review")
    expect(dup.locator(".badge")).to_have_text("In review")
    shot(page, "single-disputed")

    # A rejected single track (silent: only validation, which reads every sample, can tell):
    # Retry with a replacement file, same track, next submission.
    form.locator("[data-slot=audio] input[type=file]").set_input_files(media["silent"])
    form.locator("[data-slot=cover] input[type=file]").set_input_files(media["cover"])
    _fill(form, title="Short One", bpm="100")
    expect(save).to_be_enabled()
    save.click()
    short = page.locator(".results .track-card").first
    expect(short).to_have_attribute("aria-label", "Short One")
    expect(short).to_have_attribute("data-status", "rejected", timeout=90_000)
    short.get_by_role("button", name="Retry").click()
    short.locator(".retry-panel [data-slot=audio] input[type=file]").set_input_files(media["fixed"])
    expect(short.locator(".retry-panel [data-slot=audio] .file-progress")).to_have_attribute("data-state", "done")
    short.get_by_role("button", name="Retry this track").click()
    expect(short).to_have_attribute("data-status", "ready", timeout=90_000)
    expect(short.locator(".waveform")).to_have_attribute("data-drawn", "true")
    retried = requests.get(
        f"{platform.url}/api/v1/tracks/{short.get_attribute('data-track-id')}", headers=auth, timeout=10
    ).json()
    assert (
        retried["status"] == "ready" and retried["submission"] == 1 and abs(retried["facts"]["duration_s"] - 13) < 0.01
    )
    assert not page.console_errors
    assert not page.foreign_requests
