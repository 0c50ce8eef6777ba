"""Producers without upload access, sign-in, and where a token may appear in a URL."""

from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MESSAGE = "Upload access is only available to approved producers."


def test_unapproved_producer_sees_the_message_and_no_form(platform_env, browser_page, token_for, shot, fits):
    platform_env.start("upload")  # the page, /me and /rules need only the gateway
    page = browser_page
    token = token_for(platform_env, "producer-waiting", approved=False)

    # Outside dev mode the page asks for a token first.
    page.goto(f"{platform_env.url}/backstage/upload")
    expect(page.get_by_role("heading", name="Sign in to upload")).to_be_visible()
    shot(page, "signin")
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator(".access-message")).to_have_text(MESSAGE)
    expect(page.get_by_role("heading", name="Approved producers only")).to_be_visible()
    assert page.locator("input[type=file]").count() == 0
    assert page.locator("form.upload-form").count() == 0
    assert page.get_by_role("button", name="Save track").count() == 0
    expect(page.locator("#who")).to_contain_text("producer-waiting")
    shot(page, "no-access-desktop")
    page.set_viewport_size({"width": 375, "height": 740})
    assert fits(page)
    shot(page, "no-access-phone")

    # The API says the same sentence, word for word.
    r = requests.post(f"{platform_env.url}/api/v1/tracks", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 403 and r.json()["errors"][0] == {"field": None, "code": "PRODUCER_ACCESS_REQUIRED", "message": MESSAGE}
    assert not page.console_errors
    assert not page.foreign_requests


def test_access_token_query_parameter_only_on_streams_and_media(platform_env, token_for):
    platform_env.start("upload")
    token = token_for(platform_env, "producer-q")
    base = platform_env.url
    # Everywhere else the header is required.
    assert requests.get(f"{base}/api/v1/me", params={"access_token": token}, timeout=10).status_code == 401
    r = requests.post(f"{base}/api/v1/uploads", params={"access_token": token},
                      headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"}, timeout=10)
    assert r.status_code == 401
    # The streams and media routes accept it (404: no such track of this producer, so auth passed).
    nope = uuid.uuid4()
    for path in (f"/api/v1/tracks/{nope}/events", f"/api/v1/collections/{nope}/events",
                 f"/api/v1/tracks/{nope}/media/waveform.json"):
        assert requests.get(base + path, timeout=10).status_code == 401
        assert requests.get(base + path, params={"access_token": token}, timeout=10).status_code in (404, 503)
    assert requests.get(f"{base}/api/v1/tracks/{nope}/events", params={"access_token": "bad"}, timeout=10).status_code == 401
