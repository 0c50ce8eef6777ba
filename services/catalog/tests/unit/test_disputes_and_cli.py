"""Disputes from producer to operator, and the operator CLI on a real catalog database."""

from __future__ import annotations

import time

import pytest

from beatpass_catalog import cli
from beatpass_catalog.disputes import DisputeError, open_dispute, resolve_dispute
from beatpass_catalog.models import Track
from beatpass_common.config import get_settings


@pytest.fixture
def duplicate(deps, apply, events):
    original = events()
    apply(original.submitted(title="Night Drive"), original.validated(), original.waveform(), original.fingerprint())
    copy = events()
    match = {"track_id": original.track_id, "score": 0.95, "offset_s": 0.0, "kind": "acoustic"}
    apply(copy.submitted(title="Mine really"), copy.validated(), copy.waveform(), copy.fingerprint(duplicate=match))
    return copy


def _status(deps, track_id):
    with deps.factory() as s:
        return s.get(Track, track_id).status


def test_dispute_then_accept_makes_the_track_ready(deps, duplicate, published):
    with deps.factory() as s, s.begin():
        open_dispute(s, deps, s.get(Track, duplicate.track_id), "I made this beat in 2019.")
    assert _status(deps, duplicate.track_id) == "in_review"
    with deps.factory() as s, s.begin():
        resolve_dispute(s, deps, duplicate.track_id, accept=True, operator="ops@beatpass", note="original stems shown")
    deps.outbox.relay_once()
    with deps.factory() as s:
        track = s.get(Track, duplicate.track_id)
        assert track.status == "ready"
        assert track.dispute["state"] == "accepted" and track.dispute["resolved_by"] == "ops@beatpass"
    assert published[-1].type == "track.ready"


def test_dispute_upheld_stays_rejected_with_reason_recorded(deps, duplicate):
    with deps.factory() as s, s.begin():
        open_dispute(s, deps, s.get(Track, duplicate.track_id), "Not a copy.")
    with deps.factory() as s, s.begin():
        resolve_dispute(s, deps, duplicate.track_id, accept=False, operator="ops", note="identical audio")
    with deps.factory() as s:
        track = s.get(Track, duplicate.track_id)
        assert track.status == "rejected" and track.errors[0]["code"] == "DUPLICATE_AUDIO"
        assert track.dispute["state"] == "upheld" and track.dispute["resolution"] == "identical audio"


def test_only_duplicates_can_be_disputed_and_a_reason_is_needed(deps, apply, events, duplicate):
    ready = events()
    apply(ready.submitted(), ready.validated(), ready.waveform(), ready.fingerprint())
    with deps.factory() as s:
        with pytest.raises(DisputeError) as exc:
            open_dispute(s, deps, s.get(Track, ready.track_id), "because")
        assert exc.value.code == "NOT_DISPUTABLE"
        with pytest.raises(DisputeError) as exc:
            open_dispute(s, deps, s.get(Track, duplicate.track_id), " ")
        assert exc.value.code == "DISPUTE_REASON_REQUIRED"


@pytest.fixture
def cli_env(monkeypatch, settings, deps):
    monkeypatch.setenv("BEATPASS_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("BEATPASS_STEP_DEADLINE_S", "0.01")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_lists_resolves_and_redrives(cli_env, deps, apply, events, duplicate, capsys):
    deps.settings = deps.settings.model_copy(update={"step_deadline_s": 0.01})
    stuck = events()
    apply(stuck.submitted(title="Stuck"), stuck.started("validation"))
    time.sleep(0.05)
    assert cli.main(["list", "overdue"]) == 0
    assert stuck.track_id in capsys.readouterr().out
    assert cli.main(["redrive", stuck.track_id]) == 0
    assert "re-drove validation" in capsys.readouterr().out

    with deps.factory() as s, s.begin():
        open_dispute(s, deps, s.get(Track, duplicate.track_id), "It is mine.")
    assert cli.main(["disputes"]) == 0
    assert "It is mine." in capsys.readouterr().out
    assert cli.main(["resolve", duplicate.track_id, "accept", "--operator", "ana", "--note", "ok"]) == 0
    assert "status ready" in capsys.readouterr().out
    assert cli.main(["resolve", duplicate.track_id, "accept", "--operator", "ana", "--note", "ok"]) == 1


def test_cli_lists_failed_steps_by_reason(cli_env, deps, apply, events, capsys):
    unreadable, slow = events(producer="p7"), events(producer="p8")
    apply(
        unreadable.submitted(),
        unreadable.validated(),
        unreadable.step_failed("waveform", 1, reason="unreadable", parked=True, error="RIFF chunk size 0"),
    )
    apply(slow.submitted(), slow.validated(), slow.step_failed("fingerprint", 2, reason="timeout"))
    assert cli.main(["failed", "--reason", "unreadable"]) == 0
    out = capsys.readouterr().out
    assert unreadable.track_id in out and "producer=p7" in out and "step=waveform" in out
    assert "RIFF chunk size 0" in out and "parked" in out and slow.track_id not in out
    assert "1 failed step(s)" in out
    assert cli.main(["failed"]) == 0
    out = capsys.readouterr().out
    assert slow.track_id in out and "reason=timeout" in out and "2 failed step(s)" in out
    # a parked step is not re-driven from the catalog: its message is in waveform.dead
    assert cli.main(["redrive", unreadable.track_id]) == 1
    assert "parked in waveform.dead (reason unreadable)" in capsys.readouterr().out
    assert cli.main(["redrive", unreadable.track_id, "--parked"]) == 0  # the cause is fixed: reopen it
    assert "re-drove waveform" in capsys.readouterr().out
    with deps.factory() as s:
        track = s.get(Track, unreadable.track_id)
        assert track.status == "processing" and track.step("waveform").state == "pending"
        assert not track.step("waveform").parked
