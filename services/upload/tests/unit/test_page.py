"""The upload page offers what the gateway serves: its optional features are read from the URL map."""

from __future__ import annotations

from flask import Flask

from beatpass_upload.page import FEATURES, features


def _app(routes: list[tuple[str, str]]) -> Flask:
    app = Flask("t")
    for i, (method, rule) in enumerate(routes):
        app.add_url_rule(rule, f"r{i}", lambda **_: "", methods=[method])
    return app


def test_nothing_optional_served_means_every_feature_off():
    app = _app([("GET", "/api/v1/tracks/<track_id>"), ("POST", "/api/v1/collections")])
    assert features(app) == dict.fromkeys(FEATURES, False)


def test_a_route_counts_whatever_its_variables_are_called_and_only_with_its_method():
    app = _app(
        [
            ("PATCH", "/api/v1/tracks/<string:tid>"),
            ("GET", "/api/v1/uploads/<id>"),
            ("GET", "/api/v1/collections"),
            ("PUT", "/api/v1/collections/<cid>"),
            ("POST", "/api/v1/tracks/<x>/replace/now"),
        ]
    )
    assert features(app) == {
        "collectionsList": True,
        "uploadInspection": True,
        "editTrack": True,
        "editCollection": False,
        "replaceTrack": False,
    }
