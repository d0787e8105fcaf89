"""The OpenAPI 3.1 description of /api/v1, built as a plain dict and served at /api/v1/openapi.json.

A test keeps it true: every /api/v1 rule is documented here and every documented path exists, and
the responses the API tests receive validate against these schemas. Another module adds its own
endpoints with ``add_path`` / ``add_schema`` (e.g. the workflow's actions endpoint).
"""
from __future__ import annotations

import copy
from typing import Any

from flask import jsonify

from . import bp

UUID = {"type": "string", "format": "uuid", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"}
DATETIME = {"type": "string", "format": "date-time"}
NULLABLE_INT = {"type": ["integer", "null"]}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "description": "Per-field messages (strings); some errors add "
                           "lists such as missing_photo_ids."},
            },
        }},
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "display_name", "roles", "locale"],
        "properties": {
            "id": {"type": "integer"}, "username": {"type": "string"}, "display_name": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string",
                                                 "enum": ["inspector", "desk", "manager", "community", "leader",
                                                          "admin"]}},
            "locale": {"type": "string"},
        },
        "additionalProperties": False,
    },
    "Session": {
        "type": "object",
        "required": ["user", "csrf_token"],
        "properties": {"user": ref("User"), "csrf_token": {"type": "string"}},
        "additionalProperties": False,
    },
    "Reference": {
        "type": "object",
        "required": ["streets", "communities", "sites", "zones", "categories", "families"],
        "properties": {
            "streets": {"type": "array", "items": {
                "type": "object", "required": ["id", "name"], "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}},
            "communities": {"type": "array", "items": {
                "type": "object", "required": ["id", "street_id", "name"], "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "street_id": {"type": "integer"},
                               "name": {"type": "string"}}}},
            "sites": {"type": "array", "items": {
                "type": "object", "required": ["id", "community_id", "name", "kind", "lat", "lon", "address"],
                "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "community_id": {"type": "integer"},
                               "name": {"type": "string"}, "kind": {"type": "string"},
                               "lat": {"type": ["number", "null"]}, "lon": {"type": ["number", "null"]},
                               "address": {"type": ["string", "null"]}}}},
            "zones": {"type": "array", "items": {
                "type": "object", "required": ["id", "site_id", "name"], "additionalProperties": False,
                "properties": {"id": {"type": "integer"}, "site_id": {"type": "integer"},
                               "name": {"type": "string"}}}},
            "categories": {"type": "array", "items": {
                "type": "object",
                "required": ["code", "name_zh", "name_en", "family", "routes_to", "sort_order"],
                "additionalProperties": False,
                "properties": {"code": {"type": "string"}, "name_zh": {"type": "string"},
                               "name_en": {"type": "string"}, "family": {"type": "string"},
                               "routes_to": {"type": "string", "enum": ["community", "market"]},
                               "sort_order": {"type": "integer"}}}},
            "families": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["name_zh", "name_en"],
                "properties": {"name_zh": {"type": "string"}, "name_en": {"type": "string"}}}},
        },
    },
    "PhotoUpload": {
        "type": "object",
        "required": ["id", "sha256", "stored_sha256", "width", "height", "byte_size", "content_type", "view_url",
                     "thumb_url", "created_at"],
        "additionalProperties": False,
        "properties": {
            "id": UUID,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                       "description": "SHA-256 of the bytes received; compare with the outbox's own hash."},
            "stored_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                              "description": "SHA-256 of the re-encoded master the server keeps."},
            "width": {"type": "integer"}, "height": {"type": "integer"},
            "byte_size": {"type": "integer", "description": "Size of the bytes received."},
            "content_type": {"type": "string"},
            "view_url": {"type": "string"}, "thumb_url": {"type": "string"},
            "created_at": DATETIME,
        },
    },
    "Location": {
        "type": "object",
        "required": ["lat", "lon"],
        "properties": {
            "lat": {"type": "number", "minimum": -90, "maximum": 90},
            "lon": {"type": "number", "minimum": -180, "maximum": 180},
            "accuracy_m": {"type": ["number", "null"], "minimum": 0},
        },
    },
    "FindingCreate": {
        "type": "object",
        "required": ["kind", "captured_at", "community_id"],
        "properties": {
            "kind": {"type": "string", "enum": ["problem", "ok"]},
            "captured_at": {**DATETIME, "description": "ISO 8601 with the device's UTC offset; at most 10 minutes "
                                                       "in the future."},
            "community_id": {"type": "integer"},
            "site_id": NULLABLE_INT,
            "zone_id": NULLABLE_INT,
            "category_code": {"type": ["string", "null"], "description": "Required for kind=problem."},
            "note": {"type": ["string", "null"], "maxLength": 2000},
            "location": {"oneOf": [ref("Location"), {"type": "null"}]},
            "photo_ids": {"type": "array", "items": UUID, "uniqueItems": True,
                          "description": "Uploaded photos in display order; at least one for kind=problem."},
        },
    },
    "FindingPhoto": {
        "type": "object",
        "required": ["id", "sha256", "kind", "view_url", "thumb_url"],
        "additionalProperties": False,
        "properties": {"id": UUID, "sha256": {"type": "string"},
                       "kind": {"type": ["string", "null"], "enum": ["before", "after", "evidence", None]},
                       "view_url": {"type": "string"}, "thumb_url": {"type": "string"}},
    },
    "Event": {
        "type": "object",
        "required": ["type", "at", "actor", "from_status", "to_status", "note", "reason", "data", "photo_ids"],
        "properties": {"type": {"type": "string"}, "at": DATETIME, "actor": {"type": ["string", "null"]},
                       "from_status": {"type": ["string", "null"]}, "to_status": {"type": ["string", "null"]},
                       "note": {"type": "string"}, "reason": {"type": ["string", "null"]},
                       "data": {"type": "object", "description": "Action details: party and deadline of a "
                                "dispatch, integrity flags and distance_m of a rectify, before/after of a "
                                "reclassify."},
                       "photo_ids": {"type": "array", "items": UUID}},
    },
    "Finding": {
        "type": "object",
        "required": ["id", "kind", "status", "version", "captured_at", "received_at", "updated_at",
                     "community_id", "site_id", "zone_id", "category_code", "note", "location", "photos",
                     "deadline", "overdue_at", "party"],
        "properties": {
            "id": UUID,
            "kind": {"type": "string", "enum": ["problem", "ok"]},
            "status": {"type": "string"},
            "version": {"type": "integer"},
            "captured_at": DATETIME, "received_at": DATETIME, "updated_at": DATETIME,
            "community_id": {"type": "integer"}, "site_id": NULLABLE_INT, "zone_id": NULLABLE_INT,
            "category_code": {"type": ["string", "null"]},
            "note": {"type": "string"},
            "location": {"oneOf": [ref("Location"), {"type": "null"}]},
            "photos": {"type": "array", "items": ref("FindingPhoto")},
            "deadline": {"type": ["string", "null"], "format": "date-time"},
            "overdue_at": {"type": ["string", "null"], "format": "date-time",
                           "description": "When the deadline passed before rectification; never cleared."},
            "party": {"oneOf": [{"type": "null"}, {
                "type": "object", "required": ["kind", "community_id", "site_id", "name"],
                "properties": {"kind": {"type": "string"}, "community_id": NULLABLE_INT, "site_id": NULLABLE_INT,
                               "name": {"type": ["string", "null"]}}}]},
            "events": {"type": "array", "items": ref("Event")},
        },
    },
    "FindingList": {
        "type": "object",
        "required": ["findings", "next", "server_time"],
        "properties": {
            "findings": {"type": "array", "items": ref("Finding")},
            "next": {"type": ["string", "null"], "description": "Pass as ?cursor= for the next page."},
            "server_time": {**DATETIME, "description": "Use as the next ?since= to avoid clock skew."},
        },
    },
}


def error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


UNAUTHENTICATED = error_response("Not logged in (or the token is invalid): log in again, keep the outbox.")
CSRF = error_response("Bad request; for browser calls also a missing or stale X-CSRFToken.")
NOT_FOUND = error_response("Unknown, or not visible to you (existence is not revealed).")
PHOTO_UUID = {"name": "photo_uuid", "in": "path", "required": True, "schema": UUID}
FINDING_UUID = {"name": "finding_uuid", "in": "path", "required": True, "schema": UUID}
IMAGE_CONTENT = {t: {"schema": {"type": "string", "contentMediaType": t}}
                 for t in ("image/jpeg", "image/png", "image/webp", "image/heic")}

PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {"get": {
        "summary": "This document.", "operationId": "openapi", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {
            "type": "object"}}}}},
    }},
    "/api/v1/session": {"get": {
        "summary": "The logged-in user, their roles and a CSRF token for browser writes.",
        "operationId": "getSession",
        "responses": {"200": json_response("Logged in", ref("Session")), "401": UNAUTHENTICATED},
    }},
    "/api/v1/reference": {"get": {
        "summary": "Places and categories for offline pick lists (only active rows, scoped to the user).",
        "operationId": "getReference",
        "parameters": [{"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}],
        "responses": {
            "200": {**json_response("Reference data; ETag header set", ref("Reference")),
                    "headers": {"ETag": {"schema": {"type": "string"}}}},
            "304": {"description": "Unchanged since the ETag given in If-None-Match."},
            "401": UNAUTHENTICATED,
        },
    }},
    "/api/v1/photos/{photo_uuid}": {"put": {
        "summary": "Upload one photo (idempotent by uuid). Upload every photo of a capture before its finding.",
        "operationId": "putPhoto",
        "parameters": [PHOTO_UUID, {"name": "Content-Digest", "in": "header", "required": True,
                                    "description": "RFC 9530, e.g. sha-256=:<base64>:", "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": IMAGE_CONTENT},
        "responses": {
            "201": json_response("Stored", ref("PhotoUpload")),
            "200": json_response("Already stored with these same bytes (a resend)", ref("PhotoUpload")),
            "400": error_response("Invalid uuid, missing or mismatching Content-Digest, corrupt image or "
                                  "decompression bomb (code tells which); CSRF failure"),
            "401": UNAUTHENTICATED,
            "409": error_response("This uuid is already used for different bytes"),
            "413": error_response("Larger than the server's photo size limit"),
            "415": error_response("Not JPEG/PNG/WebP(/HEIC), or the body is not the declared type"),
        },
    }},
    "/api/v1/photos/{photo_uuid}/{variant}": {"get": {
        "summary": "A stored rendition (JPEG, no metadata). The view is watermarked once attached to a finding.",
        "operationId": "getPhotoFile",
        "parameters": [PHOTO_UUID, {"name": "variant", "in": "path", "required": True,
                                    "schema": {"type": "string", "enum": ["view", "thumb", "master"]}},
                       {"name": "v", "in": "query", "required": False, "schema": {"type": "string"},
                        "description": "Content version from view_url/thumb_url (cache busting)."}],
        "responses": {
            "200": {"description": "image/jpeg; Cache-Control private, immutable; strong ETag",
                    "content": {"image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}}}},
            "304": {"description": "Not modified (If-None-Match)"},
            "401": UNAUTHENTICATED,
            "404": NOT_FOUND,
        },
    }},
    "/api/v1/findings": {"get": {
        "summary": "Findings visible to the user, newest change first (keyset paginated).",
        "operationId": "listFindings",
        "parameters": [
            {"name": "mine", "in": "query", "required": False, "schema": {"type": "string", "enum": ["0", "1"]},
             "description": "1: only the findings I captured."},
            {"name": "since", "in": "query", "required": False, "schema": DATETIME,
             "description": "Only findings changed at or after this instant (inclusive)."},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "responses": {
            "200": json_response("A page of findings", ref("FindingList")),
            "400": error_response("Bad since, limit or cursor"),
            "401": UNAUTHENTICATED,
        },
    }},
    "/api/v1/findings/{finding_uuid}": {
        "put": {
            "summary": "Create a finding from uploaded photos (idempotent by uuid).",
            "operationId": "putFinding",
            "parameters": [FINDING_UUID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("FindingCreate")}}},
            "responses": {
                "201": json_response("Created", ref("Finding")),
                "200": json_response("Already created with this same content (a resend)", ref("Finding")),
                "400": error_response("Invalid uuid or not a JSON object; CSRF failure"),
                "401": UNAUTHENTICATED,
                "403": error_response("Only inspectors capture findings"),
                "409": error_response("This uuid already holds a finding with different content"),
                "413": error_response("Body larger than 64 KB (a finding is a few hundred bytes)"),
                "415": error_response("Body is not application/json"),
                "422": error_response("Per-field errors in fields; missing_photo_ids lists photos to upload first"),
            },
        },
        "get": {
            "summary": "One finding with its event trail.",
            "operationId": "getFinding",
            "parameters": [FINDING_UUID],
            "responses": {"200": json_response("The finding", ref("Finding")), "401": UNAUTHENTICATED,
                          "404": NOT_FOUND},
        },
    },
}


def add_schema(name: str, schema: dict[str, Any]) -> None:
    SCHEMAS[name] = schema


def add_path(path: str, method: str, operation: dict[str, Any]) -> None:
    PATHS.setdefault(path, {})[method.lower()] = operation


MALFORMED = "Malformed request: a NUL character in the path or a field is refused before any view runs"


def _with_malformed_request(paths: dict[str, Any]) -> dict[str, Any]:
    """webapp.security refuses a NUL in any path or field with a 400 on every route, so every
    operation documents that answer."""
    for operations in paths.values():
        for operation in operations.values():
            operation.setdefault("responses", {}).setdefault("400", error_response(MALFORMED))
    return paths


def build_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "巡查 Xuncha sync API",
            "version": "1",
            "description": "Offline capture sync for inspectors' phones. Order of calls, retries and what each "
                           "status means for a client: docs/sync-protocol.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}, {"bearer": []}],
        "paths": _with_malformed_request(copy.deepcopy(PATHS)),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "Browser session; writes also need the X-CSRFToken header from "
                                           "/api/v1/session."},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "API token (flask create-token); no CSRF header needed."},
            },
        },
    }


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(build_spec())
