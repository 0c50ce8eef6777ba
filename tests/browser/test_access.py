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
    r = requests.post(
        f"{platform_env.url}/api/v1/tracks", json={}, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert r.status_code == 403 and r.json()["errors"][0] == {
        "field": None,
        "code": "PRODUCER_ACCESS_REQUIRED",
        "message": MESSAGE,
    }
    assert not page.console_errors
    assert not page.foreign_requests


def test_no_bearer_token_in_urls_streams_and_media_take_signed_links(platform_env, token_for):
    platform_env.start("upload")
    token = token_for(platform_env, "producer-q")
    base = platform_env.url
    auth = {"Authorization": f"Bearer {token}"}
    nope = uuid.uuid4()
    # A token in the query string opens nothing, anywhere: it would end up in proxy and access logs.
    for path in (
        "/api/v1/me",
        f"/api/v1/tracks/{nope}/events",
        f"/api/v1/collections/{nope}/events",
        f"/api/v1/tracks/{nope}/media/waveform.json",
    ):
        r = requests.get(base + path, params={"access_token": token}, timeout=10)
        assert r.status_code == 401 and r.json()["errors"][0]["code"] == "AUTH_REQUIRED", path
    # Streams open with a ticket from a header-authenticated POST, only for the producer's own ids
    # (services/upload/tests/integration/test_hostile_clients.py opens one): none for an unknown id.
    for subject in ("tracks", "collections"):
        ticket = requests.post(f"{base}/api/v1/{subject}/{nope}/events/ticket", headers=auth, timeout=10)
        assert ticket.status_code == 404 and ticket.json()["errors"][0]["code"] == f"{subject[:-1].upper()}_NOT_FOUND"
    r = requests.get(
        f"{base}/api/v1/tracks/{nope}/events",
        params={"producer": "producer-q", "expires": "9" * 10, "signature": "0" * 64},
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["errors"][0]["code"] == "LINK_INVALID"
