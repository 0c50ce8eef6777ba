"""A step that runs longer than usual says so with its elapsed time; a failed step shows what
happened and what to do, in the catalog's words. No workers run: the test plays the worker by
publishing its step.started, then its step.failed, on the real bus."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from beatpass_catalog.records import failed_message
from beatpass_common.bus import Publisher
from beatpass_common.events import new_event

pytestmark = pytest.mark.browser


def test_slow_step_shows_elapsed_time_and_failed_step_its_sentence(
    platform_env, browser_page, media, token_for, shot, fits
):
    platform = platform_env
    platform.start("catalog")
    platform.start("upload", BEATPASS_STEP_SLOW_AFTER_S="2")
    page = browser_page
    producer = "producer-steps"
    token = token_for(platform, producer)
    page.goto(f"{platform.url}/backstage/upload#token={token}")
    form = page.locator("#panel-single")
    form.locator("[data-slot=audio] input[type=file]").set_input_files(media["beat"])
    form.locator("[data-slot=cover] input[type=file]").set_input_files(media["cover"])
    form.get_by_label("Title", exact=True).fill("Slow Night")
    form.get_by_label("Artists").fill("Kai")
    form.get_by_label("BPM").fill("120")
    form.get_by_label("Key").select_option("A")
    form.get_by_label("Scale").select_option("minor")
    form.get_by_label("Licensing").select_option("non_exclusive")
    save = form.get_by_role("button", name="Save track")
    expect(save).to_be_enabled()
    save.click()

    card = page.locator(".results .track-card").first
    expect(card).to_be_visible()
    track_id = card.get_attribute("data-track-id")
    # Recorded by the catalog and queued: no worker has taken it, so it is waiting, not late.
    view = platform.wait_track(track_id, producer=producer, until=lambda t: t["steps"]["validation"]["attempts"] == 1)
    step = card.locator("[data-step=validation]")
    expect(step).to_have_attribute("data-state", "pending")
    expect(card.locator(".step-note")).to_have_count(0)

    publisher = Publisher(platform.env["BEATPASS_BUS_URL"])
    try:

        def publish(type_, data):
            publisher.publish(
                new_event(type_, data, producer_id=producer, track_id=track_id, attempt=view["submission"])
            )

        publish("step.started", {"step": "validation"})
        expect(step).to_have_attribute("data-state", "running")
        note = card.locator(".step-note")
        expect(note).to_have_text(
            re.compile(r"^Validation — still working \(\d+ s\)\. This is taking longer than usual"), timeout=15_000
        )
        expect(step.locator(".step-state")).to_have_text(re.compile(r"^Still working \(\d+ s\)$"))
        first = int(re.search(r"\((\d+) s\)", note.inner_text()).group(1))
        # The clock keeps counting (the card is redrawn every second, so look the note up each time).
        page.wait_for_function(
            "([id, n]) => Number(/\\((\\d+) s\\)/.exec(document.querySelector("
            "`[data-track-id='${id}'] .step-note`)?.textContent)?.[1]) > n",
            arg=[track_id, first],
        )
        shot(page, "step-slow")

        publish(
            "step.failed",
            {
                "step": "validation",
                "error": "RIFF chunk size 0 at offset 12",
                "attempts": 1,
                "reason": "unreadable",
                "parked": True,
            },
        )
        expect(card).to_have_attribute("data-status", "failed")
    finally:
        publisher.close()
    sentence = failed_message("validation", "unreadable", 1)
    assert "This is our fault, not your file's" in sentence
    expect(card.locator(".step-failure")).to_have_text(sentence)
    expect(card.get_by_text(sentence)).to_have_count(1)  # once, not again in the item's errors
    expect(card.locator(".step-note")).to_have_count(0)
    expect(step).to_have_attribute("data-state", "failed")
    expect(card.get_by_role("button", name="Retry")).to_be_visible()
    assert "RIFF chunk" not in card.inner_text()  # the worker's error is for operators
    shot(page, "step-failed")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits(page)
    assert page.console_errors == []
