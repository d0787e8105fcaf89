"""PUT /api/v1/findings/{uuid}/actions/{action_uuid}: every workflow transition as one idempotent call.

The phone's outbox (and the desk's pages, through the same service) send one action per request;
the action UUID makes a resend safe. The view only parses, calls ``workflow.apply_action`` and
serialises; every rule lives in the service.
"""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..services import workflow
from . import bp
from .errors import ApiError
from .openapi import (CSRF, FINDING_UUID, NOT_FOUND, UNAUTHENTICATED, UUID, add_path, add_schema,
                      error_response, json_response, ref)
from .schemas import event_json, finding_json


@bp.put("/findings/<finding_uuid>/actions/<action_uuid>")
@login_required
def put_action(finding_uuid: str, action_uuid: str):
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", _("请求体必须是 JSON 对象。"))
    result = workflow.apply_action(current_user._get_current_object(), finding_uuid, action_uuid, payload)
    # The finding itself (as GET returns it) plus the event: the generic outbox reads status, id and
    # the photos' received sha256 from the top level, as it does for a created finding.
    response = jsonify({**finding_json(result.finding, events=True), "event": event_json(result.event)})
    response.status_code = 201 if result.created else 200
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the OpenAPI description ------------------------------------------------------------------------

add_schema("ActionRequest", {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": [a.value for a in workflow.Action]},
        "note": {"type": "string", "maxLength": 2000,
                 "description": "Required for rectify, and with reason \"other\"."},
        "reason": {"type": "string", "description": "reject: " + ", ".join(workflow.REASONS[workflow.Action.reject])
                   + "; dispute: " + ", ".join(workflow.REASONS[workflow.Action.dispute])
                   + "; reopen: " + ", ".join(workflow.REASONS[workflow.Action.reopen])},
        "duplicate_of": {**UUID, "description": "duplicate: the finding this one repeats (it gains the photos)."},
        "party": {"description": "accept (accept + dispatch in one step) or dispatch: \"auto\" routes by the "
                                 "category and site; or an explicit community or market (site id).",
                  "oneOf": [{"type": "string", "enum": ["auto"]},
                            {"type": "object", "required": ["kind", "id"], "additionalProperties": False,
                             "properties": {"kind": {"type": "string", "enum": ["community", "market"]},
                                            "id": {"type": "integer"}}}]},
        "photo_ids": {"type": "array", "items": UUID, "maxItems": 9,
                      "description": "rectify: after-photos already uploaded with PUT /api/v1/photos/{uuid}."},
        "expected_version": {"type": "integer", "minimum": 1,
                             "description": "The finding's version the client acted on; 409 if it moved on."},
        "captured_at": {"type": "string", "format": "date-time",
                        "description": "When the action was taken on the phone (may precede the sync)."},
        "location": ref("Location"),
        "category_code": {"type": "string", "description": "reclassify only."},
        "community_id": {"type": "integer", "description": "reclassify only."},
        "site_id": {"type": ["integer", "null"], "description": "reclassify only (null clears the site)."},
    },
})
add_schema("ActionResult", {
    "description": "The finding after the action (as GET /api/v1/findings/{uuid} returns it) and the action's event.",
    "allOf": [ref("Finding"), {"type": "object", "required": ["event", "events"],
                               "properties": {"event": ref("Event")}}],
})
add_schema("ActionConflict", {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "fields", "finding"],
        "properties": {
            "code": {"type": "string", "enum": ["illegal_transition", "stale_version", "action_conflict"]},
            "message": {"type": "string"},
            "fields": {"type": "object"},
            "finding": {"type": "object", "required": ["id", "status", "version", "deadline", "party"],
                        "description": "The finding's current state, to reconcile with."},
        },
    }},
})
add_path("/api/v1/findings/{finding_uuid}/actions/{action_uuid}", "put", {
    "summary": "Apply one workflow action (accept, reject, duplicate, dispatch, acknowledge, rectify, dispute, "
               "verify, reopen, reclassify); idempotent by action_uuid. See docs/workflow.md.",
    "operationId": "putFindingAction",
    "parameters": [FINDING_UUID, {"name": "action_uuid", "in": "path", "required": True, "schema": UUID}],
    "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ActionRequest")}}},
    "responses": {
        "201": json_response("Applied", ref("ActionResult")),
        "200": json_response("Already applied with this same content (a resend)", ref("ActionResult")),
        "400": CSRF,
        "401": UNAUTHENTICATED,
        "403": error_response("Your role may not do this, or the finding is not in your responsibility"),
        "404": NOT_FOUND,
        "409": json_response("Illegal in the current state, stale expected_version, or this action uuid was "
                             "used for different content; error.finding holds the current state",
                             ref("ActionConflict")),
        "413": error_response("Body larger than the server's request limit (an action is a few hundred bytes)"),
        "422": error_response("Invalid payload: per-field messages in error.fields"),
    },
})
