"""Issue #15 on the upload page, each test once on a desktop and once on a phone, one browser
session each with zero console errors from start to end (page.errors, conftest.open_session),
apart from the one refusal a test provokes on purpose and names.

- test_single_track_journey: problems before Save (the real format, the inspection's code and
  sentence, Save blocked), title from the file name, a draft kept over a reload, an already
  uploaded cover, focus kept while uploading and after Save, consistent minutes, listen (play,
  seek by click and keyboard, Range), the cover large, edit details, copy details for support, a
  duplicate with a step that says what it found, our dispute sentence, replace from the duplicate.
- test_a_refused_save_keeps_the_form_and_its_support_details: a save the API refuses (no upload
  minutes left) keeps what was typed and picked, with the sentence and "Copy details for support".
- test_library_and_collections: the library on a fresh device (newest first, pages, status
  filter, a validation rejection that says so), a collection with apply-to-all, reordering and a
  draft, then edited (title, cover, order).

All services run once for this package's tests (conftest.stack), each test with producers of its own.
"""

from __future__ import annotations

import base64
import io
import re

import pytest
import requests
from playwright.sync_api import expect

from beatpass_common import media_rules
from beatpass_common.testing.media import beat_wav, cover_bytes

pytestmark = pytest.mark.browser

THROTTLE_BYTES_S = 3 * 1024 * 1024  # so an upload lasts long enough to move focus around in it
# Audio differs between the two sizes: one stack serves both, and the same audio twice would be
# a duplicate (across producers too).
SEEDS = {"desktop": 100, "phone": 200}


@pytest.fixture(params=list(SEEDS))
def size(request):
    return request.param


@pytest.fixture
def files(size, tmp_path_factory):
    """This size's own audio, named as a producer's files would be."""
    root = tmp_path_factory.mktemp(f"audio-{size}")
    base = SEEDS[size]
    specs = {
        "forty_five": ("Forty_Five.wav", 45, 1),  # 0.75 upload minutes
        "sunrise": ("Sunrise.wav", 11, 2),
        "dusk": ("Dusk.wav", 11, 3),
        "seed_a": ("Seed_A.wav", 10, 4),
        "seed_b": ("Seed_B.wav", 10, 5),
        "new_take": ("Forty_Five_v2.wav", 12, 6),
    }
    out = {}
    for key, (name, seconds, n) in specs.items():
        out[key] = root / name
        out[key].write_bytes(beat_wav(seconds, seed=base + n))
    return out


class Recorder:
    """The page's API traffic: requests (method, url, body) and responses (with X-Request-Id)."""

    def __init__(self, page):
        self.requests, self.responses = [], []
        page.on("request", lambda r: "/api/v1/" in r.url and self.requests.append(r))
        page.on("response", lambda r: "/api/v1/" in r.url and self.responses.append(r))

    def sent(self, method: str, pattern: str) -> list:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.url)]

    def request_ids(self, pattern: str) -> set[str]:
        return {r.headers.get("x-request-id") for r in self.responses if re.search(pattern, r.url)} - {None}


def _clipboard(page) -> str:
    return page.evaluate("navigator.clipboard.readText()")


def _fill(scope, *, artists="Kai", bpm="60", key="A", scale="minor", licensing="non_exclusive"):
    scope.get_by_label("Artists").fill(artists)
    scope.get_by_label("BPM").fill(bpm)
    scope.get_by_label("Key").select_option(key)
    scope.get_by_label("Scale").select_option(scale)
    scope.get_by_label("Licensing").select_option(licensing)


def _tus_metadata(request) -> dict[str, str]:
    pairs = (p.strip().partition(" ") for p in (request.headers.get("upload-metadata") or "").split(",") if p.strip())
    return {key: base64.b64decode(value).decode() for key, _, value in pairs}


def _upload_id(recorder, name: str) -> str:
    """The id of the tus upload the page created for the file called ``name``."""
    for r in recorder.responses:
        if (
            r.request.method == "POST"
            and r.url.endswith("/api/v1/uploads")
            and _tus_metadata(r.request).get("filename") == name
        ):
            return r.headers["location"].rsplit("/", 1)[1]
    raise AssertionError(f"no upload of {name}")


def _minutes_add_up(page, limit=600):
    text = page.get_by_role("region", name="Upload minutes").inner_text()
    # m:ss, as the gateway's quota sentences count: the two shown always add up to the limit.
    left, total, used = (
        int(m) * 60 + int(s)
        for m, s in re.findall(
            r"(\d+):(\d\d)", re.search(r"\d+:\d\d\s+of\s+\d+:\d\d left · \d+:\d\d used", text).group()
        )
    )
    assert total == limit * 60 and left + used == total, text
    return left / 60, used / 60


def test_single_track_journey(stack, open_session, media, files, token_for, shot, fits, size):
    page = open_session(size)
    producer = f"journey-{size}"
    token = token_for(stack, producer)
    auth = {"Authorization": f"Bearer {token}"}
    rules = requests.get(f"{stack.url}/api/v1/rules", timeout=10).json()
    api = Recorder(page)
    page.goto(f"{stack.url}/backstage/upload#token={token}")

    # A favicon, served by the gateway (a missing one is a console error).
    icon = page.locator("link[rel=icon]").get_attribute("href")
    r = requests.get(stack.url + icon, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/svg+xml")
    library = page.get_by_role("region", name="Your uploads")
    expect(library).to_contain_text("No single tracks yet.")
    form = page.get_by_role("tabpanel", name="Single track", exact=True)
    save = form.get_by_role("button", name="Save track")
    audio = form.locator("[data-slot=audio]")
    cover = form.locator("[data-slot=cover]")

    # Problems before Save: an MP3 named .wav and a 600×400 cover show what they are, with the
    # inspection's code and sentence, at once; the title comes from the file name.
    form.get_by_label("Audio (WAV)").set_input_files(media["mp3"])
    expect(form.get_by_label("Title", exact=True)).to_have_value("Fake Beat")
    expect(audio.locator(".file-meta")).to_contain_text("MP3")
    expect(audio.locator(".file-thumb")).to_have_text("MP3")
    form.get_by_label("Cover art").set_input_files(media["small_cover"])
    _fill(form)
    for slot, name in ((audio, "Fake_Beat.wav"), (cover, "small.jpg")):
        expect(slot.locator(".file-progress")).to_have_attribute("data-check", "problems")
        upload = requests.get(f"{stack.url}/api/v1/uploads/{_upload_id(api, name)}", headers=auth, timeout=10).json()
        problems = upload["inspection"]["problems"]
        assert problems and upload["complete"]
        expect(slot.locator(".problem-message")).to_have_text([p["message"] for p in problems])
        expect(slot.locator(".problem-code")).to_have_text([p["code"] for p in problems])
        expect(slot.locator(".file-state")).to_have_text("Not accepted")  # never a green "Uploaded"
        for p in problems:
            expect(form.locator(".reasons")).to_contain_text(p["message"])
    expect(audio.locator(".file-meta")).to_contain_text("MP3")  # the inspection agrees
    expect(cover.locator(".file-meta")).to_contain_text("600×400 px")
    expect(save).to_be_disabled()
    # The page told the gateway what each upload is for.
    assert {
        _tus_metadata(r)["filename"]: _tus_metadata(r).get("kind") for r in api.sent("POST", "/api/v1/uploads$")
    } == {"Fake_Beat.wav": "audio", "small.jpg": "cover"}
    shot(page, f"issue15-problems-before-save-{size}")

    # Copy details for support, from the file card: the sentence, code, file and format, the kind
    # of upload, the upload id, the request id, and a word about the screenshot.
    audio.get_by_role("button", name="Copy details for support").click()
    expect(audio.locator(".support-note")).to_contain_text("attach a screenshot")
    text = _clipboard(page)
    upload_id = _upload_id(api, "Fake_Beat.wav")
    first = requests.get(f"{stack.url}/api/v1/uploads/{upload_id}", headers=auth, timeout=10).json()["inspection"][
        "problems"
    ][0]
    for part in (
        first["message"],
        first["code"],
        "Fake_Beat.wav (MP3)",
        "Upload type: single track",
        upload_id,
        "screenshot",
    ):
        assert part in text, (part, text)
    request_id = re.search(r"Request id: (\S+)", text).group(1)
    assert request_id in api.request_ids(f"/api/v1/uploads/{upload_id}$"), text

    # A good cover; then a reload keeps what was typed (a draft), not the files.
    form.get_by_label("Cover art").set_input_files(media["cover"])
    expect(cover.locator(".file-progress")).to_have_attribute("data-check", "ok")
    expect(cover.locator(".problem-message")).to_have_count(0)
    form.get_by_label("Tags").fill("night, drive")
    page.reload()
    form = page.get_by_role("tabpanel", name="Single track", exact=True)
    save = form.get_by_role("button", name="Save track")
    audio, cover = form.locator("[data-slot=audio]"), form.locator("[data-slot=cover]")
    expect(form.get_by_role("status").filter(has_text="The details you typed last time are back")).to_be_visible()
    expect(form.get_by_label("Title", exact=True)).to_have_value("Fake Beat")
    expect(form.get_by_label("BPM")).to_have_value("60")
    expect(form.get_by_label("Tags")).to_have_value("night, drive")
    expect(form.get_by_label("Licensing")).to_have_value("non_exclusive")

    # The same cover again: the server has all of it, and the page says so.
    form.get_by_label("Cover art").set_input_files(media["cover"])
    expect(cover.locator(".resumed")).to_have_text(
        "Already uploaded: the server has all of this file, so nothing was sent again."
    )
    expect(cover.locator(".file-state")).to_have_text("Already uploaded")

    # Keyboard focus stays where it is while the upload progresses (a slow connection here).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": THROTTLE_BYTES_S},
    )
    page.evaluate("""() => { window.__lost = 0; window.__focusedRenders = 0;
        document.addEventListener('focusout', () => setTimeout(() => {
            if (document.activeElement === document.body) window.__lost += 1; }), true);
        new MutationObserver(() => { if (document.activeElement?.dataset.focus === 'toggle') window.__focusedRenders += 1; })
            .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
    form.get_by_label("Audio (WAV)").set_input_files(files["forty_five"])
    expect(form.get_by_label("Title", exact=True)).to_have_value("Forty Five")  # named after the new file
    # Paused mid-PATCH and resumed at once: the resume's HEAD waits for the cut PATCH to commit, so
    # its offset is current and no request is refused (a 409 would be a console error).
    expect(audio.locator(".file-progress")).to_have_attribute("data-state", "uploading")
    page.wait_for_timeout(300)
    form.get_by_role("button", name="Pause upload of Forty_Five.wav").click()
    form.get_by_role("button", name="Resume upload of Forty_Five.wav").click()
    form.get_by_role("button", name="Pause upload of Forty_Five.wav").focus()
    expect(audio.locator(".file-progress")).to_have_attribute("data-state", "done", timeout=30_000)
    expect(form.get_by_role("button", name="Replace Forty_Five.wav")).to_be_focused()  # the pause button went away
    assert page.evaluate("window.__focusedRenders") >= 5  # redrawn all along with focus on the pause button
    assert page.evaluate("window.__lost") == 0
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    expect(audio.locator(".minutes-note")).to_have_text(
        "This track is 0:45 long; you have 600:00 of upload minutes left."
    )
    expect(audio.locator(".file-progress")).to_have_attribute("data-check", "ok")
    expect(save).to_be_enabled()

    # Save from the keyboard: focus lands on the new card, not at the top of the page.
    save.focus()
    page.keyboard.press("Enter")
    card = library.get_by_role("article", name="Forty Five")
    expect(card.get_by_role("heading", name="Forty Five")).to_be_focused()
    expect(form.get_by_label("Title", exact=True)).to_have_value("")
    track_id = card.get_attribute("data-track-id")
    expect(card).to_have_attribute("data-status", "ready", timeout=120_000)
    # 0.75 minutes used: "0.8 used" and "599.2 left", which add up to the limit.
    expect(page.get_by_role("region", name="Upload minutes")).to_contain_text("599:15 of 600:00 left · 0:45 used")
    _minutes_add_up(page)
    page.reload()  # the draft was spent by the save; the library still shows the track
    expect(
        page.get_by_role("tabpanel", name="Single track", exact=True).get_by_label("Title", exact=True)
    ).to_have_value("")
    library = page.get_by_role("region", name="Your uploads")
    card = library.get_by_role("article", name="Forty Five")
    expect(card).to_have_attribute("data-status", "ready")

    # Listen: the producer's own audio plays from the card; the waveform is the seek bar.
    view = requests.get(f"{stack.url}/api/v1/tracks/{track_id}", headers=auth, timeout=10).json()
    assert view["audio"]["url"] and view["warnings"][0]["code"] == "BPM_MISMATCH"  # 60 BPM typed, about 136 / 93 heard
    # A seek on a player whose audio is not loaded yet holds until the audio can play (it used
    # to jump to the end and stop).
    seek = card.get_by_role("slider", name="Position in Forty Five")
    seek.focus()
    page.keyboard.press("ArrowRight")
    expect(seek).to_have_attribute("aria-valuenow", "5")
    play = card.get_by_role("button", name="Play Forty Five")
    play.click()
    expect(card.get_by_role("button", name="Pause Forty Five")).to_be_visible()
    page.wait_for_function(
        "el => { const a = el.querySelector('audio'); return !a.paused && a.currentTime > 5.2 && a.currentTime < 20; }",
        arg=card.element_handle(),
    )
    card.get_by_role("button", name="Pause Forty Five").click()
    box = seek.bounding_box()
    seek.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    page.wait_for_function(
        "el => Math.abs(el.querySelector('audio').currentTime - 33.75) < 2", arg=card.element_handle()
    )
    seek.focus()
    page.keyboard.press("Home")
    expect(seek).to_have_attribute("aria-valuenow", "0")
    page.keyboard.press("ArrowRight")
    expect(seek).to_have_attribute("aria-valuenow", "5")
    expect(seek).to_have_attribute("aria-valuetext", "0:05 of 0:45")
    ranged = [r for r in api.responses if "/media/audio" in r.url]
    assert ranged and all(r.request.headers.get("range", "").startswith("bytes=") for r in ranged)
    assert any(r.status == 206 and r.headers.get("content-range", "").startswith("bytes ") for r in ranged)
    assert all(token not in r.url for r in ranged)

    # The cover opens large, and closes back to where it was opened.
    opener = card.get_by_role("button", name="Open cover art of Forty Five")
    opener.click()
    dialog = page.get_by_role("dialog", name="Cover art of Forty Five")
    large = dialog.get_by_role("img", name="Cover art of Forty Five")
    page.wait_for_function("img => img.complete && img.naturalWidth === 1000", arg=large.element_handle())
    shot(page, f"issue15-cover-large-{size}", full_page=False)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(opener).to_be_focused()
    shot(page, f"issue15-ready-player-{size}")

    # The BPM warning: Copy details for support, then Edit details fixes the BPM.
    card.get_by_role("button", name="Copy details for support").click()
    text = _clipboard(page)
    for part in (
        view["warnings"][0]["message"],
        "BPM_MISMATCH",
        f"Track id: {track_id}",
        "Forty_Five.wav",
        "Upload type: single track",
        "screenshot",
    ):
        assert part in text, (part, text)
    assert re.search(r"Request id: (\S+)", text).group(1) in api.request_ids(
        "/api/v1/tracks"
    )  # what delivered its view
    card.get_by_role("button", name="Edit details").click()
    bpm = card.get_by_label("BPM")
    expect(bpm).to_be_focused()  # the warning is about the BPM
    bpm.fill("300")
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".edit-panel [data-field=bpm] .field-error")).to_have_text(rules["messages"]["BPM_INVALID"])
    assert not api.sent("PATCH", track_id)  # refused here, in the API's words
    heard = str(round(view["facts"]["estimated_bpm"]))
    bpm.fill(heard)
    with page.expect_response(lambda r: r.request.method == "PATCH" and track_id in r.url) as edited:
        card.get_by_role("button", name="Save changes").click()
    assert edited.value.status == 200 and edited.value.request.post_data_json == {
        "bpm": int(heard)
    }  # only what changed
    expect(card.locator(".card-meta")).to_contain_text(f"{heard} BPM")
    expect(card.get_by_role("heading", name="Forty Five")).to_be_focused()
    assert requests.get(f"{stack.url}/api/v1/tracks/{track_id}", headers=auth, timeout=10).json()["metadata"][
        "bpm"
    ] == int(heard)

    # The same audio again: a duplicate of "Forty Five". The step that found it says so.
    form = page.get_by_role("tabpanel", name="Single track", exact=True)
    form.get_by_label("Audio (WAV)").set_input_files(files["forty_five"])
    form.get_by_label("Cover art").set_input_files(media["cover"])
    form.get_by_label("Title", exact=True).fill("Forty Five (again)")
    _fill(form, bpm=heard)
    expect(form.get_by_role("button", name="Save track")).to_be_enabled()
    form.get_by_role("button", name="Save track").click()
    dup = library.get_by_role("article", name="Forty Five (again)")
    expect(dup).to_have_attribute("data-status", "rejected", timeout=120_000)
    dup_view = requests.get(
        f"{stack.url}/api/v1/tracks/{dup.get_attribute('data-track-id')}", headers=auth, timeout=10
    ).json()
    assert dup_view["errors"][0]["code"] == "DUPLICATE_AUDIO"
    expect(dup.locator(".messages.error li")).to_have_text([dup_view["errors"][0]["message"]])
    expect(dup.locator("[data-step=fingerprint] .step-state")).to_have_text("Found a match")
    expect(dup.locator(".badge")).to_have_text("Rejected")

    # An empty dispute gets our sentence, not only the browser's bubble, and sends nothing.
    dup.get_by_role("button", name="Dispute").click()
    dup.get_by_role("button", name="Send dispute").click()
    expect(dup.locator(".dispute-panel .field-error")).to_have_text(rules["messages"]["DISPUTE_REASON_REQUIRED"])
    expect(dup.get_by_label("Why is this not a duplicate?")).to_be_focused()
    assert not api.sent("POST", "/dispute$")
    dup.get_by_role("button", name="Cancel").click()

    # "Replace the audio on that track instead", from the duplicate's card: a new version.
    dup.get_by_role("button", name="Replace the audio of “Forty Five”").click()
    dup.get_by_label("New audio (WAV)").set_input_files(files["new_take"])
    new_version = dup.get_by_role("button", name="Save new version")
    expect(new_version).to_be_enabled(timeout=30_000)
    shot(page, f"issue15-replace-panel-{size}")
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/tracks/{track_id}/replace")) as replaced:
        new_version.click()
    assert replaced.value.status == 202
    new_id = replaced.value.json()["track_id"]
    # While the new version is processing, the old one takes no edit or replacement (the API's sentence).
    old = library.locator(f"[data-track-id='{track_id}']")
    expect(old.locator(".pending-version")).to_contain_text("A new version of this track is being processed.")
    expect(old.get_by_role("button", name="Replace files")).to_have_count(0)
    fresh = library.locator(f"[data-track-id='{new_id}']")
    expect(fresh).to_have_attribute("data-status", "ready", timeout=120_000)
    expect(old).to_have_attribute("data-status", "replaced", timeout=30_000)
    expect(old.locator(".notice")).to_have_text("Replaced by a newer version.")
    expect(old.get_by_role("button", name="Edit details")).to_have_count(0)
    # One player at a time: starting the old version's pauses the new one's.
    fresh.get_by_role("button", name="Play Forty Five").click()
    expect(fresh.get_by_role("button", name="Pause Forty Five")).to_be_visible()
    old.get_by_role("button", name="Play Forty Five").click()
    expect(old.get_by_role("button", name="Pause Forty Five")).to_be_visible()
    expect(fresh.get_by_role("button", name="Play Forty Five")).to_be_visible()
    old.get_by_role("button", name="Pause Forty Five").click()
    shot(page, f"issue15-replaced-{size}")
    assert fits(page)
    _minutes_add_up(page)


def test_a_refused_save_keeps_the_form_and_its_support_details(stack, open_session, media, token_for, size, tmp_path):
    from beatpass_upload.quota import exceeded_message

    page = open_session(size)
    # The one refusal this test provokes (Chromium logs the 422 of the save as a console error):
    # minutes used on another device after the page read them. Every refusal the page can tell
    # beforehand blocks Save instead and sends nothing.
    page.expected_errors = [r"status of 422 .*/api/v1/tracks\)$"]
    producer = f"one-minute-{size}"
    token = token_for(stack, producer, minutes=1)
    rules = requests.get(f"{stack.url}/api/v1/rules", timeout=10).json()
    messages, text_max = (
        rules["messages"],
        rules.get("text_max", {"artist": 100, "genre": 40, "tag": 40, "mood": 50, "description": 2000}),
    )
    api = Recorder(page)
    page.goto(f"{stack.url}/backstage/upload#token={token}")
    expect(page.get_by_role("region", name="Upload minutes")).to_contain_text("1:00 of 1:00 left · 0:00 used")
    form = page.get_by_role("tabpanel", name="Single track", exact=True)
    save = form.get_by_role("button", name="Save track")
    reasons = form.locator(".reasons")

    # No maxlength that differs from the rule (the rule's sentence says what is too long).
    limits = {"title": rules["title_max"], "mood": text_max["mood"], "description": text_max["description"]}
    lengths = page.evaluate("[...document.querySelectorAll('[maxlength]')].map(el => [el.name, el.maxLength])")
    assert all(limits.get(name) == n for name, n in lengths), lengths
    # Every field rule is checked before Save, with the API's sentences.
    form.get_by_label("Artists").fill("A" * (text_max["artist"] + 1))
    form.get_by_label("Genres").fill("g" * (text_max["genre"] + 1))
    form.get_by_label("Tags").fill("t" * (text_max["tag"] + 1))
    form.get_by_label("Mood").fill("m" * (text_max["mood"] + 1))
    form.get_by_label("Description").fill("d" * (text_max["description"] + 1))
    form.get_by_label("Title", exact=True).fill("T" * (rules["title_max"] + 1))
    for code in (
        "ARTIST_INVALID",
        "GENRE_INVALID",
        "TAG_INVALID",
        "MOOD_INVALID",
        "DESCRIPTION_TOO_LONG",
        "TITLE_TOO_LONG",
    ):
        expect(reasons).to_contain_text(messages[code])
    for label in ("Genres", "Tags", "Mood", "Description"):
        form.get_by_label(label).fill("")
    # Text-direction controls in any text field, in the API's sentence (/rules' text_direction);
    # an emoji is one character, as the API counts.
    direction = rules["text_direction"]
    form.get_by_label("Title", exact=True).fill("Night \u202eDrive")
    form.get_by_label("Tags").fill("ok, da\u2066rk")
    for field in ("title", "tags"):
        expect(reasons).to_contain_text(direction["sentence"].replace("{label}", direction["labels"][field]))
    form.get_by_label("Title", exact=True).fill("\U0001f3b5" * rules["title_max"])
    expect(reasons).not_to_contain_text(direction["sentence"].replace("{label}", direction["labels"]["title"]))
    expect(reasons).not_to_contain_text(messages["TITLE_TOO_LONG"])
    form.get_by_label("Tags").fill("")
    form.get_by_label("Title", exact=True).fill("")

    # A collection: the sum of its tracks against the minutes left, in the gateway's sentence;
    # each track alone would fit.
    parts = []
    for n in (1, 2):
        parts.append(tmp_path / f"Half_{n}.wav")
        parts[-1].write_bytes(beat_wav(35, seed=SEEDS[size] + 60 + n))
    page.get_by_role("tab", name="Collection", exact=True).click()
    collection = page.get_by_role("tabpanel", name="Collection", exact=True)
    collection.get_by_label("Collection title").fill("Dawn \u202eTape")
    expect(collection.locator(".reasons")).to_contain_text(
        direction["sentence"].replace("{label}", direction["collection_label"])
    )
    collection.get_by_label("Add tracks").set_input_files(parts)
    expect(collection.locator(".collection-item [data-slot=audio] .file-progress[data-state=done]")).to_have_count(2)
    over = exceeded_message(70, 60)
    expect(collection.locator(".reasons")).to_contain_text(over)
    expect(collection.get_by_role("button", name="Save collection")).to_be_disabled()
    # Removing a track hands focus to the next track's Remove button, then to "Add tracks".
    collection.get_by_role("button", name="Remove track 1").click()
    expect(collection.get_by_role("button", name="Remove track 1")).to_be_focused()
    expect(collection.locator(".reasons")).not_to_contain_text(over)
    collection.get_by_role("button", name="Remove track 1").click()
    expect(collection.get_by_label("Add tracks")).to_be_focused()
    page.get_by_role("tab", name="Single track", exact=True).click()

    # A cover over the size limit is refused from its size, before a byte is sent, in the units
    # of its card (decimal MB, as the gateway's sentence).
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as f:
        f.write(b"\xff\xd8\xff\xe0")
        f.truncate(25_400_000)
    form.get_by_label("Cover art").set_input_files(huge)
    cover = form.locator("[data-slot=cover]")
    # Validation's own sentence for this file (media_rules), word for word.
    expect(cover.locator(".problem-message")).to_have_text(
        media_rules.cover_too_large(25_400_000, rules["cover_max_bytes"]).message
    )
    assert (
        media_rules.cover_too_large(25_400_000, rules["cover_max_bytes"]).message
        == "The cover art file is 25.4 MB. BeatPass accepts cover art files up to 20 MB."
    )
    expect(cover.locator(".problem-code")).to_have_text("COVER_TOO_LARGE")
    expect(cover.locator(".file-meta")).to_contain_text("25.4 MB")
    expect(reasons).to_contain_text("The cover art file is 25.4 MB.")
    assert not [r for r in api.sent("POST", "/api/v1/uploads$") if _tus_metadata(r).get("filename") == "huge.jpg"]
    # A WAV picked as cover, a JPEG as audio: refused from their first bytes before a byte is
    # sent, in validation's words (/rules' format_refusals, media_rules).
    form.get_by_label("Cover art").set_input_files(media["beat"])
    refusal = rules["format_refusals"]["cover"]["wav"]
    assert refusal["message"] == "This file is WAV audio, not JPEG or PNG. BeatPass accepts JPEG or PNG cover art only."
    expect(cover.locator(".problem-message")).to_have_text(refusal["message"])
    expect(cover.locator(".problem-code")).to_have_text("COVER_NOT_JPEG_OR_PNG")
    form.get_by_label("Audio (WAV)").set_input_files(media["cover"])
    expect(form.locator("[data-slot=audio] .problem-message")).to_have_text(
        rules["format_refusals"]["audio"]["jpeg"]["message"]
    )
    expect(reasons).to_contain_text(refusal["message"])
    sent = {_tus_metadata(r).get("filename") for r in api.sent("POST", "/api/v1/uploads$")}
    assert not sent & {"Night_Drive.wav", "cover.jpg"}, sent

    # A single track longer than the minutes left: Save blocked, the gateway's sentence beside the file.
    form.get_by_label("Audio (WAV)").set_input_files(media["long"])
    form.get_by_label("Cover art").set_input_files(media["cover"])
    _fill(form)
    long_over = exceeded_message(70, 60)
    expect(form.locator("[data-slot=audio] .minutes-note")).to_have_text(long_over)
    expect(reasons).to_contain_text(long_over)
    expect(save).to_be_disabled()
    form.get_by_label("Audio (WAV)").set_input_files(media["beat"])
    expect(form.locator("[data-slot=audio] .minutes-note")).to_have_text(
        "This track is 0:14 long; you have 1:00 of upload minutes left."
    )
    expect(save).to_be_enabled()
    assert not api.sent("POST", "/api/v1/tracks$")

    # Another device uses 50 of the 60 seconds; this page's save is refused, with the gateway's sentence.
    other = tmp_path / "Elsewhere.wav"
    other.write_bytes(beat_wav(50, seed=SEEDS[size] + 70))
    _seed(stack, producer, other, "Elsewhere")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/tracks") and r.request.method == "POST") as refused:
        save.click()
    problem = refused.value.json()
    assert refused.value.status == 422 and problem["errors"][0]["code"] == "UPLOAD_MINUTES_EXCEEDED"
    first = problem["errors"][0]
    assert first["field"] == "audio" and first["message"] == exceeded_message(14, 10)
    expect(form.locator("[data-slot=audio] .field-error")).to_have_text(first["message"])  # beside the file
    expect(reasons).to_contain_text(first["message"])
    # The minutes are read again: the page's own check now says the same, and Save stays blocked.
    expect(form.locator("[data-slot=audio] .minutes-note")).to_have_text(first["message"])
    expect(save).to_be_disabled()
    # Nothing was cleared: the details and both uploads are still there to fix and retry.
    expect(form.get_by_label("Title", exact=True)).to_have_value("Night Drive")
    expect(form.get_by_label("BPM")).to_have_value("60")
    expect(form.locator("[data-slot=audio] .file-state")).to_have_text("Uploaded")
    expect(form.locator("[data-slot=cover] .file-state")).to_have_text("Uploaded")
    # "Copy details for support" below the reasons, with a sentence of its own.
    bar = form.locator(".savebar")
    expect(bar.locator(".reasons + .refusal-support .support-lead")).to_contain_text("BeatPass did not save this.")
    bar.get_by_role("button", name="Copy details for support").click()
    text = _clipboard(page)
    body = refused.value.request.post_data_json
    for part in (
        problem["errors"][0]["message"],
        "UPLOAD_MINUTES_EXCEEDED",
        "Audio file: Night_Drive.wav (WAV)",
        "Cover file: cover.jpg (JPEG)",
        "Upload type: single track",
        body["audio_upload_id"],
        body["cover_upload_id"],
        f"Request id: {problem['request_id']}",
        "screenshot",
    ):
        assert part in text, (part, text)
    assert problem["request_id"] == refused.value.headers["x-request-id"]
    page.reload()  # the draft outlives a refused save
    expect(
        page.get_by_role("tabpanel", name="Single track", exact=True).get_by_label("Title", exact=True)
    ).to_have_value("Night Drive")


def _seed(stack, producer: str, path, title: str, cover_id: str | None = None) -> tuple[str, str]:
    """Save a track through the API (tus + POST) as another device would; (track id, cover id)."""
    from tusclient import client as tus

    headers = stack.headers(producer)

    def upload(data: bytes, name: str, kind: str) -> str:
        uploader = tus.TusClient(f"{stack.url}/api/v1/uploads", headers=headers).uploader(
            file_stream=io.BytesIO(data), chunk_size=8 << 20, metadata={"filename": name, "kind": kind}
        )
        uploader.upload()
        return uploader.url.rsplit("/", 1)[1]

    cover_id = cover_id or upload(cover_bytes(1200), "seed.jpg", "cover")
    body = {
        "audio_upload_id": upload(path.read_bytes(), path.name, "audio"),
        "cover_upload_id": cover_id,
        "title": title,
        "artists": ["Seed"],
        "bpm": 100,
        "key": "C",
        "scale": "major",
        "licensing": "exclusive",
    }
    r = requests.post(f"{stack.url}/api/v1/tracks", json=body, headers=headers, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["track_id"], cover_id


def test_library_and_collections(stack, open_session, media, files, token_for, shot, fits, size, library_page_size):
    producer = f"library-{size}"
    token = token_for(stack, producer)
    auth = {"Authorization": f"Bearer {token}"}
    # Three tracks saved elsewhere (another device, the API), oldest first; one is silent.
    quiet, cover_id = _seed(stack, producer, media["silent"], "Quiet Room")
    seed_a, _ = _seed(stack, producer, files["seed_a"], "Seed A", cover_id)
    seed_b, _ = _seed(stack, producer, files["seed_b"], "Seed B", cover_id)
    stack.wait_track(quiet, producer=producer, until=lambda t: t["status"] == "rejected")

    page = open_session(size)  # a browser that never saw this producer
    api = Recorder(page)
    page.goto(f"{stack.url}/backstage/upload#token={token}")
    library = page.get_by_role("region", name="Your uploads")
    cards = library.get_by_role("article")
    expect(cards).to_have_count(library_page_size)
    expect(cards.nth(0)).to_have_attribute("data-track-id", seed_b)  # newest first
    expect(cards.nth(1)).to_have_attribute("data-track-id", seed_a)
    expect(library.get_by_role("navigation", name="Pages of your uploads")).to_contain_text("Page 1 of 2 · 3 tracks")
    library.get_by_role("button", name="Next page").focus()
    page.keyboard.press("Enter")
    expect(cards).to_have_count(1)
    expect(cards.nth(0)).to_have_attribute("data-track-id", quiet)
    expect(library.get_by_role("button", name="Next page")).to_be_disabled()
    # Keyboard focus is not dropped: the pressed button went disabled, so the first card's heading has it.
    expect(cards.nth(0).get_by_role("heading", name="Quiet Room")).to_be_focused()
    library.get_by_label("Status").select_option("rejected")
    expect(cards).to_have_count(1)
    rejected = library.get_by_role("article", name="Quiet Room")
    expect(rejected.locator(".badge")).to_have_text("Rejected")
    # The step that rejected it says so: never "Validation Done" beside "Rejected".
    expect(rejected.locator("[data-step=validation] .step-state")).to_have_text("Found problems")
    expect(rejected.locator("[data-step=waveform] .step-state")).to_have_text("Not run")
    view = stack.track(quiet, producer)
    expect(rejected.locator(".messages.error li")).to_have_text([e["message"] for e in view["errors"]])
    expect(rejected.get_by_role("button", name="Copy details for support")).to_be_visible()
    library.get_by_label("Status").select_option("replaced")
    expect(library.locator(".library-note")).to_have_text("No tracks with the status “Replaced”.")
    library.get_by_label("Status").select_option("")
    expect(cards).to_have_count(library_page_size)
    shot(page, f"issue15-library-{size}")
    assert fits(page)

    # Edited on another device (here the API) once its card had settled: the card shows the edit
    # when the producer comes back to this tab.
    settled = library.get_by_role("article", name="Seed B")
    expect(settled).to_have_attribute("data-status", "ready", timeout=60_000)
    edited = requests.patch(
        f"{stack.url}/api/v1/tracks/{seed_b}", headers=auth, json={"title": "Seed B (Remix)"}, timeout=10
    )
    assert edited.status_code == 200, edited.text
    # A settled card asks nothing by itself: no read of the track since it settled, until the
    # producer comes back to the tab; then one.
    track_reads = lambda: len(api.sent("GET", f"/api/v1/tracks/{seed_b}$"))  # noqa: E731
    reads = track_reads()
    expect(library.get_by_role("article", name="Seed B")).to_be_visible()
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(library.get_by_role("article", name="Seed B (Remix)")).to_be_visible()
    assert track_reads() == reads + 1

    # A collection: several files at once, titled from their names; artists, licensing, key and
    # scale applied to all from the first; reordered; a draft over a reload.
    page.get_by_role("tab", name="Collection", exact=True).click()
    form = page.get_by_role("tabpanel", name="Collection", exact=True)
    form.get_by_label("Collection title").fill("Dawn Tape")
    page.reload()
    form = page.get_by_role("tabpanel", name="Collection", exact=True)
    page.get_by_role("tab", name="Collection", exact=True).click()
    expect(form.get_by_label("Collection title")).to_have_value("Dawn Tape")
    form.get_by_label("Album cover art").set_input_files(media["cover2"])
    form.get_by_label("Add tracks").set_input_files([files["dusk"], files["sunrise"]])
    expect(form.locator(".collection-item")).to_have_count(2)
    first, second = form.get_by_role("listitem", name="Track 1"), form.get_by_role("listitem", name="Track 2")
    expect(first.get_by_label("Title", exact=True)).to_have_value("Dusk")
    expect(second.get_by_label("Title", exact=True)).to_have_value("Sunrise")
    _fill(first, artists="Kai, Mira", bpm="160", key="C#", scale="major", licensing="exclusive")
    for name in ("Artists", "Licensing", "Key", "Scale"):
        first.get_by_role("button", name=f"Apply to all tracks ({name})").click()
    expect(second.get_by_label("Artists")).to_have_value("Kai, Mira")
    expect(second.get_by_label("Licensing")).to_have_value("exclusive")
    expect(second.get_by_label("Key")).to_have_value("C#")
    expect(second.get_by_label("Scale")).to_have_value("major")
    second.get_by_label("BPM").fill("136")
    form.get_by_role("button", name="Move track 2 up").click()
    expect(form.get_by_role("listitem", name="Track 1").get_by_label("Title", exact=True)).to_have_value("Sunrise")
    expect(form.get_by_role("button", name="Move track 1 down")).to_be_focused()  # the moved track's button
    save = form.get_by_role("button", name="Save collection")
    expect(save).to_be_enabled(timeout=30_000)
    shot(page, f"issue15-collection-form-{size}")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/collections") and r.request.method == "POST") as saved:
        save.click()
    assert [t["title"] for t in saved.value.request.post_data_json["tracks"]] == ["Sunrise", "Dusk"]
    assert all(
        t["artists"] == ["Kai", "Mira"] and t["key"] == "C#" for t in saved.value.request.post_data_json["tracks"]
    )
    collection_id = saved.value.json()["collection_id"]
    card = library.get_by_role("article", name="Dawn Tape")
    expect(card.get_by_role("heading", name="Dawn Tape")).to_be_focused()
    expect(page.get_by_role("tab", name="Collections", exact=True)).to_have_attribute("aria-selected", "true")
    expect(card).to_have_attribute("data-status", "ready", timeout=120_000)
    tracks = card.locator(".track-card")
    expect(tracks).to_have_count(2)
    expect(tracks.nth(0)).to_have_attribute("aria-label", "Sunrise")

    # Edit the collection: title, album cover and order in one change.
    card.get_by_role("button", name="Edit collection").click()
    panel = card.locator(".collection-edit-panel")
    panel.get_by_label("Collection title").fill("Dawn Tape (Deluxe)")
    panel.get_by_label("New album cover").set_input_files(media["cover"])
    expect(panel.locator("[data-slot=cover] .file-progress")).to_have_attribute("data-check", "ok", timeout=30_000)
    panel.get_by_role("button", name="Move “Dusk” up").click()
    with page.expect_response(lambda r: r.request.method == "PATCH" and collection_id in r.url) as edited:
        panel.get_by_role("button", name="Save changes").click()
    body = edited.value.request.post_data_json
    assert edited.value.status == 200 and body["title"] == "Dawn Tape (Deluxe)" and body["cover_upload_id"]
    assert len(body["track_ids"]) == 2
    assert edited.value.json()["cover_change"]["state"] == "checking"  # shown once validation accepts it
    card = library.get_by_role("article", name="Dawn Tape (Deluxe)")
    expect(card.get_by_role("heading", name="Dawn Tape (Deluxe)")).to_be_focused()
    expect(card.locator(".track-card").nth(0)).to_have_attribute("aria-label", "Dusk")
    expect(card).to_have_attribute("data-status", "ready", timeout=120_000)
    # The accepted cover comes under a new link (no cached old image); the notice goes.
    cover = card.get_by_role("button", name="Open cover art of Dawn Tape (Deluxe)").locator("img")
    expect(cover).to_have_attribute("src", re.compile(r"/cover-thumb-r\d+\.jpg\?"), timeout=60_000)
    expect(card.locator(".cover-change")).to_have_count(0)
    collection = requests.get(f"{stack.url}/api/v1/collections/{collection_id}", headers=auth, timeout=10).json()
    assert collection["title"] == "Dawn Tape (Deluxe)" and [t["title"] for t in collection["items"]] == [
        "Dusk",
        "Sunrise",
    ]
    shot(page, f"issue15-collection-edited-{size}")
    assert fits(page)

    # Another fresh device lists the collection too.
    other = open_session(size)
    other.goto(f"{stack.url}/backstage/upload#token={token}")
    other.get_by_role("tab", name="Collections", exact=True).click()
    expect(
        other.get_by_role("region", name="Your uploads").get_by_role("article", name="Dawn Tape (Deluxe)")
    ).to_be_visible()
    assert all(token not in r.url for r in api.requests)


def _view(track_id: str, title: str, status: str, **extra) -> dict:
    """A track view as the gateway gives it, for cards of every kind without waiting for one."""
    step = "pending" if status == "processing" else "done"
    view = {
        "id": track_id,
        "title": title,
        "status": status,
        "submission": 1,
        "collection_id": None,
        "replaces_track_id": None,
        "steps": {name: {"state": step} for name in ("validation", "waveform", "fingerprint")},
        "metadata": {
            "title": title,
            "artists": ["Kai"],
            "bpm": 120,
            "key": "A",
            "scale": "minor",
            "licensing": "exclusive",
            "genres": [],
            "tags": [],
        },
        "errors": [],
        "warnings": [],
        "duplicate": None,
        "cover": {},
        "facts": None,
        "files": None,
    }
    view.update(extra)
    return view


def test_every_card_kind_explains_itself_and_names_its_buttons(stack, open_session, token_for, size):
    """Cards of every kind (ready, rejected, in review, processing, new versions in flight) from a
    library list the test gives the page (page.route): what each says, and a name on every button.
    First, tokens the page can refuse by itself, without a request."""
    page = open_session(size)
    api = Recorder(page)
    page.goto(f"{stack.url}/backstage/upload#token=abc.def.ghi")
    expect(page.get_by_role("heading", name="Sign in to upload")).to_be_visible()
    expect(page.get_by_role("alert")).to_have_text("Your access token is not valid. Sign in again.")
    expired = token_for(stack, f"cards-{size}", ttl_s=-60)
    page.get_by_label("Access token").fill(expired)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Your session has expired. Sign in again.")
    assert not api.sent("GET", "/api/v1/me$")

    own = {"track_id": "r-1", "title": "Live One", "own": True, "decision": "review"}
    files = {
        "audio": {"upload_id": "up-audio-9", "filename": "refused.wav"},
        "cover": {"upload_id": "up-cover-9", "filename": "refused.jpg"},
    }
    views = [
        _view("p-1", "Live One", "processing", replaces_track_id="r-1"),
        _view(
            "v-2",
            "Live Two",
            "in_review",
            replaces_track_id="r-2",
            duplicate={"track_id": "x-9", "title": "Live Two", "own": True, "decision": "review"},
        ),
        _view("i-1", "Held", "in_review", duplicate=own),
        _view("e-1", "\U0001f3b5" * 60, "ready"),  # 60 characters to the API, 120 UTF-16 units
        _view(
            "x-1",
            "Refused",
            "rejected",
            files=files,
            errors=[
                {
                    "field": "audio",
                    "code": "AUDIO_NOT_WAV",
                    "message": "This file is MP3 audio, not WAV. BeatPass accepts WAV audio only.",
                }
            ],
        ),
        _view("r-1", "Live One", "ready"),
        _view("r-2", "Live Two", "ready"),
    ]
    by_id = {v["id"]: v for v in views}

    def answer(route):
        url = route.request.url
        path = url.split("/api/v1/tracks", 1)[1]
        if path.startswith("?"):
            return route.fulfill(json={"items": views, "total": len(views), "page": 1, "per_page": len(views)})
        track_id, _, rest = path.lstrip("/").partition("/")
        if rest == "events/ticket":
            return route.fulfill(json={"url": f"/api/v1/tracks/{track_id}/events?ticket=t"})
        if rest.startswith("events"):
            return route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body="retry: 60000\n\n")
        if route.request.method == "PATCH":
            by_id[track_id] = {
                **by_id[track_id],
                "metadata": {**by_id[track_id]["metadata"], **route.request.post_data_json},
            }
        return route.fulfill(json=by_id[track_id])

    page.route(re.compile(r"/api/v1/tracks([?/]|$)"), answer)
    page.get_by_label("Access token").fill(token_for(stack, f"cards-{size}"))
    page.get_by_role("button", name="Sign in").click()
    library = page.get_by_role("region", name="Your uploads")
    card = lambda track_id: library.locator(f"[data-track-id='{track_id}']")  # noqa: E731
    expect(library.get_by_role("article")).to_have_count(len(views))

    # In review: what is happening and that nothing needs doing, for a track and for a new version.
    expect(card("i-1").locator(".review-note")).to_have_text(
        "A person at BeatPass is checking this track against the matched track. The decision will show here; "
        "nothing needs doing meanwhile."
    )
    expect(card("v-2").locator(".review-note")).to_contain_text("checking this new version against the matched track")
    # The live versions say what their new version is doing, and take no edit or replacement meanwhile.
    expect(card("r-1").locator(".pending-version")).to_contain_text("A new version of this track is being processed.")
    expect(card("r-2").locator(".pending-version")).to_have_text(
        "A new version of this track is in review at BeatPass. You can edit or replace this track once that review "
        "is decided."
    )
    for live in ("r-1", "r-2"):
        expect(card(live).get_by_role("button", name="Replace files")).to_have_count(0)

    # A matched track in review (as after a dispute): its fingerprint step found the match, never "Done".
    expect(card("i-1").locator("[data-step=fingerprint] .step-state")).to_have_text("Found a match")
    # Edit details wherever the API takes an edit: not on a live track whose new version is in flight.
    for editable in ("p-1", "v-2", "i-1", "x-1", "e-1"):
        expect(card(editable).get_by_role("button", name="Edit details")).to_have_count(1)
    expect(card("r-1").get_by_role("button", name="Edit details")).to_have_count(0)
    expect(card("x-1").locator(".action-note")).to_have_text(
        "Edit details changes the details only. Retry sends the track to be checked again."
    )

    # An edit is judged on what it changes, characters counted as the API counts them: a stored
    # 60-emoji title blocks nothing; a text-direction control is refused in the API's words.
    rules = requests.get(f"{stack.url}/api/v1/rules", timeout=10).json()
    direction = rules["text_direction"]
    emoji = card("e-1")
    emoji.get_by_role("button", name="Edit details").click()
    emoji.get_by_label("Artists").fill("Kai, \u202eMira")
    emoji.get_by_role("button", name="Save changes").click()
    expect(emoji.locator(".edit-panel [data-field=artists] .field-error")).to_have_text(
        direction["sentence"].replace("{label}", direction["labels"]["artists"])
    )
    assert not api.sent("PATCH", "/e-1$")
    emoji.get_by_label("Artists").fill("Kai")
    emoji.get_by_label("BPM").fill("121")
    with page.expect_request(lambda r: r.method == "PATCH" and r.url.endswith("/e-1")) as patched:
        emoji.get_by_role("button", name="Save changes").click()
    assert patched.value.post_data_json == {"bpm": 121}
    expect(emoji.locator(".card-meta")).to_contain_text("121 BPM")

    # Support details of a card read from the API name its files and uploads (view.files).
    card("x-1").get_by_role("button", name="Copy details for support").click()
    text = _clipboard(page)
    for part in (
        "Audio file: refused.wav",
        "Cover file: refused.jpg",
        "Upload ids: audio up-audio-9, cover up-cover-9",
    ):
        assert part in text, (part, text)

    # Every button of every card has a name (text, aria-label or aria-labelledby).
    card("x-1").get_by_role("button", name="Retry").click()  # a panel with file slots, too
    # Rejected for its file: sent again unchanged it would be rejected again, so Retry waits for a change.
    retry = card("x-1").get_by_role("button", name="Retry this track")
    expect(retry).to_be_disabled()
    expect(card("x-1").locator(".retry-note")).to_have_text(
        "Choose a new file or change a detail first: sent again unchanged, this track would be rejected again."
    )
    card("x-1").locator(".retry-panel").get_by_label("BPM").fill("122")
    expect(retry).to_be_enabled()
    unnamed = page.evaluate("""() => [...document.querySelectorAll('.results button')].filter((b) => {
        const by = (b.getAttribute('aria-labelledby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '');
        return !((b.getAttribute('aria-label') || '') + by.join('') + b.textContent).trim(); }).map((b) => b.outerHTML)""")
    assert unnamed == []
    kinds = page.evaluate("[...document.querySelectorAll('.results .track-card')].map((c) => c.dataset.status)")
    assert {"ready", "rejected", "in_review", "processing"} <= set(kinds)
