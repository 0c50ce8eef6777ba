"""The OpenAPI 3.1 document of the public API, built from the request models, the shared track
document (beatpass_common.tracks), the settings' limits and the routes."""

from __future__ import annotations

import copy
from typing import Any, Optional

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field, create_model

from beatpass_common.config import Settings
from beatpass_common.tracks import STATUSES, TrackView

from .fields import ARTISTS_MAX, GENRES_MAX, KEYS, LICENSING, SCALES, TAGS_MAX, TITLE_MAX

bp = Blueprint("openapi", __name__)


class TrackFields(BaseModel):
    """A save's metadata: the fields of beatpass_common.events.TrackMetadata, with their limits."""

    title: str = Field(min_length=1, max_length=TITLE_MAX)
    artists: list[str] = Field(min_length=1, max_length=ARTISTS_MAX)
    bpm: int = Field(description="from bpm_min to bpm_max (settings)")
    key: str = Field(json_schema_extra={"enum": list(KEYS)})
    scale: str = Field(json_schema_extra={"enum": list(SCALES)})
    licensing: str = Field(json_schema_extra={"enum": list(LICENSING)})
    description: str | None = None
    genres: list[str] = Field(default_factory=list, max_length=GENRES_MAX)
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    mood: str | None = None


class TrackSave(TrackFields):
    audio_upload_id: str
    cover_upload_id: str
    replaces_track_id: str | None = None


class CollectionTrack(TrackFields):
    audio_upload_id: str
    cover_upload_id: str | None = Field(None, description="defaults to the album cover")


class CollectionSave(BaseModel):
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    cover_upload_id: str
    tracks: list[CollectionTrack] = Field(min_length=1)


def _optional(model: type[BaseModel], name: str, doc: str, config: ConfigDict | None = None, **extra: Any):
    """``model``'s fields, each optional (null) with its constraints kept, plus ``extra`` fields:
    a retry's or an edit's body has the save's fields without requiring any of them."""
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        optional = copy.copy(info)
        optional.default, optional.default_factory = None, None
        fields[field_name] = (Optional[info.annotation], optional)  # noqa: UP045 - a type built at run time
    return create_model(name, __doc__=doc, __config__=config, **extra, **fields)


Retry = _optional(
    TrackFields,
    "Retry",
    "Anything given replaces the previous submission's value.",
    audio_upload_id=(str | None, None),
    cover_upload_id=(str | None, None),
)
TrackEdit = _optional(
    TrackFields,
    "TrackEdit",
    "Any non-empty subset of a save's metadata fields, each with the save's rules and sentences (null or "
    "blank clears an optional field); any other field is 422 FIELD_UNKNOWN.",
    ConfigDict(extra="forbid"),
)


class CollectionEdit(BaseModel):
    """Any non-empty subset: a new title, a new album cover (checked again like a save's), or
    ``track_ids``: the collection's current track ids in a new order, each exactly once."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=TITLE_MAX)
    cover_upload_id: str | None = None
    track_ids: list[str] | None = None


class Replace(BaseModel):
    """At least one new file; the other file and the metadata are the current version's."""

    model_config = ConfigDict(extra="forbid")
    audio_upload_id: str | None = None
    cover_upload_id: str | None = None


class AudioLink(BaseModel):
    url: str = Field(description="a signed link to GET the original WAV")
    filename: str | None = None
    content_type: str = "audio/wav"


class Track(TrackView):
    """The catalog's track document (beatpass_common.tracks.TrackView) with the gateway's link to
    the original audio (null while no audio of the producer's is readable)."""

    audio: AudioLink | None = None


class Dispute(BaseModel):
    reason: str = Field(min_length=3, max_length=2000)


PROBLEM = {
    "description": "problem document",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}
AUTH_ERRORS = {"401": PROBLEM, "403": PROBLEM}
TUS = {
    "Tus-Resumable": {
        "in": "header",
        "name": "Tus-Resumable",
        "required": True,
        "schema": {"type": "string", "enum": ["1.0.0"]},
    }
}
# A signed URL (beatpass_upload.signing) instead of the Authorization header, for EventSource and
# <img>: the gateway hands these out in track views and event-stream tickets.
SIGNED = [
    {"in": "query", "name": name, "required": False, "schema": {"type": "string"}, "description": text}
    for name, text in (
        ("producer", "the producer the link was signed for"),
        ("expires", "Unix time (s) after which the link is refused"),
        ("signature", "HMAC-SHA256 of the link, hex"),
    )
]
TICKET = {
    "summary": "a short-lived signed URL of this event stream (for EventSource)",
    "responses": {"201": {"description": '{"url": "…/events?producer=…&expires=…&signature=…"}'}, "401": PROBLEM},
}
# tus concatenation: a partial upload, or the final upload of partial uploads (their URLs, in order)
CONCAT = {
    "in": "header",
    "name": "Upload-Concat",
    "required": False,
    "schema": {"type": "string", "pattern": "^(partial|final;[^ ]+( [^ ]+)*)$"},
    "description": '"partial", or "final;" and the URLs of the caller\'s complete partial uploads',
}
ID = lambda name: {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}  # noqa: E731
PAGING = [
    {"in": "query", "name": "page", "schema": {"type": "integer", "minimum": 1, "maximum": 100000}},
    {"in": "query", "name": "per_page", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
]
# Any route takes the client's own request id (beatpass_common.request_ids); every answer carries one.
REQUEST_ID = {
    "in": "header",
    "name": "X-Request-Id",
    "required": False,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    "description": "kept when valid, else replaced; answered in X-Request-Id and problem documents",
}
AUDIO_HEADERS = [
    {
        "in": "header",
        "name": "Range",
        "required": False,
        "schema": {"type": "string"},
        "description": "one byte range, e.g. bytes=0-1023, bytes=1024-, bytes=-4096",
    },
    {"in": "header", "name": "If-Range", "required": False, "schema": {"type": "string"}},
]


def _json_body(model: type[BaseModel]) -> dict:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _apply_settings(schemas: dict, settings: Settings) -> None:
    """The limits that are settings, into the models' schemas (in place)."""
    schemas["CollectionSave"]["properties"]["tracks"]["maxItems"] = settings.collection_tracks_max
    for name in ("TrackSave", "CollectionTrack", "TrackEdit", "Retry"):
        bpm = schemas[name]["properties"]["bpm"]
        for option in bpm.get("anyOf", [bpm]):  # int, or int | None
            if option.get("type") == "integer":
                option.update(minimum=settings.bpm_min, maximum=settings.bpm_max)


def document() -> dict:
    models: list[type[BaseModel]] = [
        TrackSave,
        CollectionSave,
        CollectionTrack,
        Retry,
        Dispute,
        TrackEdit,
        CollectionEdit,
        Replace,
        Track,
    ]
    schemas = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["Problem"] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "field": {"type": ["string", "null"]},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
            "request_id": {"type": "string"},
        },
    }
    _apply_settings(schemas, current_app.extensions["beatpass"].settings)
    idem = {
        "in": "header",
        "name": "Idempotency-Key",
        "required": False,
        "schema": {"type": "string", "maxLength": 255},
    }
    ok = lambda d: {"description": d, "content": {"application/json": {"schema": {"type": "object"}}}}  # noqa: E731
    track_doc = {
        "description": "the track",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Track"}}},
    }
    paths: dict[str, dict[str, dict[str, Any]]] = {
        "/api/v1/uploads": {
            "options": {"summary": "tus capabilities", "responses": {"204": {"description": "capabilities"}}},
            "post": {
                "summary": "create a tus upload (creation, creation-with-upload, concatenation)",
                "parameters": [
                    TUS["Tus-Resumable"],
                    {
                        "in": "header",
                        "name": "Upload-Length",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "required, except for a final upload (Upload-Concat: final;…), which must not send it",
                    },
                    CONCAT,
                ],
                "responses": {
                    "201": {"description": "created"},
                    "400": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "410": PROBLEM,
                    "413": {"description": "too large"},
                    **AUTH_ERRORS,
                },
            },
        },
        "/api/v1/uploads/{upload_id}": {
            "head": {
                "summary": "upload offset",
                "parameters": [ID("upload_id"), TUS["Tus-Resumable"]],
                "responses": {"200": {"description": "offset"}, "404": {"description": "unknown"}},
            },
            "patch": {
                "summary": "append bytes",
                "parameters": [ID("upload_id"), TUS["Tus-Resumable"]],
                "responses": {
                    "204": {"description": "appended"},
                    "403": {"description": "a final upload"},
                    "409": {"description": "offset mismatch"},
                    "460": {"description": "checksum mismatch"},
                    **AUTH_ERRORS,
                },
            },
            "delete": {
                "summary": "terminate",
                "parameters": [ID("upload_id"), TUS["Tus-Resumable"]],
                "responses": {"204": {"description": "terminated"}, **AUTH_ERRORS},
            },
            "get": {
                "summary": "the upload's progress and, once complete, its inspection (the problems Save "
                "would refuse, with validation's codes and sentences)",
                "parameters": [ID("upload_id")],
                "responses": {"200": ok("upload"), "404": PROBLEM, "410": PROBLEM, "401": PROBLEM},
            },
        },
        "/api/v1/tracks": {
            "post": {
                "summary": "save a track",
                "parameters": [idem],
                "requestBody": _json_body(TrackSave),
                "responses": {"202": ok("accepted"), "422": PROBLEM, "409": PROBLEM, **AUTH_ERRORS},
            },
            "get": {
                "summary": "the producer's tracks, newest first",
                "parameters": [
                    {"in": "query", "name": "status", "schema": {"type": "string", "enum": list(STATUSES)}},
                    {
                        "in": "query",
                        "name": "single",
                        "schema": {"type": "string", "enum": ["true", "false"]},
                        "description": "true: only tracks saved on their own, not in a collection",
                    },
                    *PAGING,
                ],
                "responses": {"200": ok("tracks"), "400": PROBLEM, "401": PROBLEM},
            },
        },
        "/api/v1/tracks/{track_id}": {
            "get": {
                "summary": "one track",
                "parameters": [ID("track_id")],
                "responses": {"200": track_doc, "404": PROBLEM, "401": PROBLEM},
            },
            "patch": {
                "summary": "edit a track's metadata (the track view showing the edit)",
                "parameters": [ID("track_id"), idem],
                "requestBody": _json_body(TrackEdit),
                "responses": {"200": track_doc, "404": PROBLEM, "409": PROBLEM, "422": PROBLEM, **AUTH_ERRORS},
            },
        },
        "/api/v1/tracks/{track_id}/replace": {
            "post": {
                "summary": "a new version of a ready track with a new audio file and/or cover art",
                "parameters": [ID("track_id"), idem],
                "requestBody": _json_body(Replace),
                "responses": {
                    "202": ok("accepted: the new version's track_id"),
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "422": PROBLEM,
                    **AUTH_ERRORS,
                },
            }
        },
        "/api/v1/tracks/{track_id}/events": {
            "get": {
                "summary": "status changes (SSE)",
                "parameters": [ID("track_id"), *SIGNED],
                "responses": {"200": {"description": "text/event-stream"}, "404": PROBLEM},
            }
        },
        "/api/v1/tracks/{track_id}/retry": {
            "post": {
                "summary": "re-submit a rejected or failed track",
                "parameters": [ID("track_id"), idem],
                "requestBody": _json_body(Retry),
                "responses": {"202": ok("accepted"), "404": PROBLEM, "409": PROBLEM, "422": PROBLEM, **AUTH_ERRORS},
            }
        },
        "/api/v1/tracks/{track_id}/dispute": {
            "post": {
                "summary": "dispute a duplicate match",
                "parameters": [ID("track_id")],
                "requestBody": _json_body(Dispute),
                "responses": {"202": ok("in review"), "404": PROBLEM, "409": PROBLEM, "422": PROBLEM, **AUTH_ERRORS},
            }
        },
        "/api/v1/collections": {
            "post": {
                "summary": "save a collection",
                "parameters": [idem],
                "requestBody": _json_body(CollectionSave),
                "responses": {"202": ok("accepted"), "422": PROBLEM, **AUTH_ERRORS},
            },
            "get": {
                "summary": "the producer's collections with their items, newest first",
                "parameters": PAGING,
                "responses": {"200": ok("collections"), "400": PROBLEM, "401": PROBLEM},
            },
        },
        "/api/v1/collections/{collection_id}": {
            "get": {
                "summary": "a collection with its items",
                "parameters": [ID("collection_id")],
                "responses": {"200": ok("collection"), "404": PROBLEM},
            },
            "patch": {
                "summary": "edit a collection's title, album cover or track order",
                "parameters": [ID("collection_id"), idem],
                "requestBody": _json_body(CollectionEdit),
                "responses": {"200": ok("collection"), "404": PROBLEM, "422": PROBLEM, **AUTH_ERRORS},
            },
        },
        "/api/v1/collections/{collection_id}/tracks/{track_id}/retry": {
            "post": {
                "summary": "re-submit one failed or rejected item",
                "parameters": [ID("collection_id"), ID("track_id"), idem],
                "requestBody": _json_body(Retry),
                "responses": {"202": ok("accepted"), "404": PROBLEM, "409": PROBLEM, "422": PROBLEM, **AUTH_ERRORS},
            }
        },
        "/api/v1/collections/{collection_id}/events": {
            "get": {
                "summary": "status changes of a collection and its items (SSE)",
                "parameters": [ID("collection_id"), *SIGNED],
                "responses": {"200": {"description": "text/event-stream"}, "404": PROBLEM},
            }
        },
        "/api/v1/tracks/{track_id}/media/audio": {
            "get": {
                "summary": "the producer's original WAV: whole, or one byte range (Range)",
                "parameters": [ID("track_id"), *AUDIO_HEADERS, *SIGNED],
                "responses": {
                    "200": {"description": "audio/wav"},
                    "206": {"description": "one byte range"},
                    "404": PROBLEM,
                    "416": PROBLEM,
                    "401": PROBLEM,
                },
            }
        },
        "/api/v1/tracks/{track_id}/media/{name}": {
            "get": {
                "summary": "a derived file: waveform.json, waveform.dat, waveform.png, cover-large.jpg, cover-thumb.jpg",
                "parameters": [ID("track_id"), ID("name"), *SIGNED],
                "responses": {"200": {"description": "the file"}, "404": PROBLEM},
            }
        },
        "/api/v1/collections/{collection_id}/media/{name}": {
            "get": {
                "summary": "album art derivatives: cover-large.jpg, cover-thumb.jpg (cover-large-r{n}.jpg ... after "
                "a cover edit: use the collection view's links)",
                "parameters": [ID("collection_id"), ID("name"), *SIGNED],
                "responses": {"200": {"description": "the file"}, "404": PROBLEM},
            }
        },
        "/api/v1/tracks/{track_id}/events/ticket": {"post": {**TICKET, "parameters": [ID("track_id")]}},
        "/api/v1/collections/{collection_id}/events/ticket": {"post": {**TICKET, "parameters": [ID("collection_id")]}},
        "/api/v1/me": {
            "get": {"summary": "producer, approval and upload minutes", "responses": {"200": ok("me"), "401": PROBLEM}}
        },
        "/api/v1/rules": {"get": {"summary": "save rules and messages", "responses": {"200": ok("rules")}}},
    }
    # Links let a stateful client follow a save to the records it made (schemathesis uses them).
    track = {"track_id": "$response.body#/track_id"}
    paths["/api/v1/tracks"]["post"]["responses"]["202"]["links"] = {
        "track": {"operationId": "getTrack", "parameters": track},
        "retry": {"operationId": "retryTrack", "parameters": track},
        "dispute": {"operationId": "disputeTrack", "parameters": track},
        "edit": {"operationId": "editTrack", "parameters": track},
        "replace": {"operationId": "replaceTrack", "parameters": track},
    }
    collection = {"collection_id": "$response.body#/collection_id"}
    paths["/api/v1/collections"]["post"]["responses"]["202"]["links"] = {
        "collection": {"operationId": "getCollection", "parameters": collection},
        "edit": {"operationId": "editCollection", "parameters": collection},
    }
    for path, method, name in (
        ("/api/v1/tracks/{track_id}", "get", "getTrack"),
        ("/api/v1/tracks/{track_id}/retry", "post", "retryTrack"),
        ("/api/v1/tracks/{track_id}/dispute", "post", "disputeTrack"),
        ("/api/v1/collections/{collection_id}", "get", "getCollection"),
        ("/api/v1/tracks/{track_id}", "patch", "editTrack"),
        ("/api/v1/tracks/{track_id}/replace", "post", "replaceTrack"),
        ("/api/v1/collections/{collection_id}", "patch", "editCollection"),
    ):
        paths[path][method]["operationId"] = name
    for operations in paths.values():
        for operation in operations.values():
            operation["parameters"] = [*operation.get("parameters", []), REQUEST_ID]
    registered = {rule.rule for rule in current_app.url_map.iter_rules()}
    missing = [p for p in paths if p.replace("{", "<").replace("}", ">") not in registered]
    if missing:  # the document must describe routes that exist
        raise RuntimeError(f"OpenAPI paths without routes: {missing}")
    return {
        "openapi": "3.1.0",
        "info": {"title": "BeatPass upload API", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


@bp.get("/api/v1/openapi.json")
def openapi():
    return jsonify(document())
