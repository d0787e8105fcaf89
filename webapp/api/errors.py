"""The one JSON error shape of the API: ``{"error": {"code", "message", "fields"}}``.

Views raise ``ApiError``; HTTP errors raised anywhere under /api/ (404 of an unknown route, 413 from
the body limit, 405, CSRF failures) are turned into the same shape, so a phone only parses one form.
"""
from __future__ import annotations

from typing import Any

from flask import jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..extensions import login_manager
from ..services.errors import ServiceError
from . import bp


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra


def error_response(status: int, code: str, message: str, fields: dict | None = None, **extra):
    body: dict[str, Any] = {"error": {"code": code, "message": message, "fields": fields or {}}}
    body["error"].update(extra)
    response = jsonify(body)
    response.status_code = status
    return response


def is_api_request() -> bool:
    return request.path.startswith("/api/")


@bp.app_errorhandler(ApiError)
def _api_error(err: ApiError):
    return error_response(err.status, err.code, err.message, err.fields, **err.extra)


@bp.app_errorhandler(ServiceError)
def _service_error(err: ServiceError):
    return error_response(err.status, err.code, err.message, err.fields, **err.extra)


@bp.app_errorhandler(CSRFError)
def _csrf_error(err: CSRFError):
    if is_api_request():
        return error_response(400, "csrf_failed", _("CSRF 令牌缺失或无效，请重新获取 /api/v1/session。"))
    return err.description, 400


@bp.app_errorhandler(HTTPException)
def _http_error(err: HTTPException):
    if not is_api_request():
        return err
    code = (err.name or "error").lower().replace(" ", "_")
    return error_response(err.code or 500, code, err.description or err.name)


@login_manager.unauthorized_handler
def _unauthorized():
    if is_api_request():
        return error_response(401, "unauthenticated", _("请重新登录；待发送的记录都保留在手机上。"))
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


