"""Signed, expiring photo links for Open311's ``media_url``.

A partner platform shows the photo to whoever looks at the request there, without an account of
ours, so the link itself is the permission: an itsdangerous signature over the photo's uuid and
variant, valid for OPEN311_MEDIA_MAX_AGE seconds. Serving still re-checks that the photo belongs to
a finding that is public now (a finding later found to be a duplicate stops being served).
"""
from __future__ import annotations

import logging

from flask import current_app, send_file, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from .. import scope
from ..extensions import db
from ..models import Photo
from ..photo_serving import offloaded
from ..services import photos as photo_service
from ..storage import get_storage, key_for
from . import bp
from .formats import Open311Error

log = logging.getLogger(__name__)

SALT = "open311-media"
VARIANT = "view"  # the watermarked 1280 px picture: the master (full EXIF-stripped original) stays internal


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def media_url(photo: Photo) -> str:
    token = _serializer().dumps({"p": photo.uuid, "v": VARIANT})
    return url_for("open311.media", token=token, _external=True)


@bp.get("/media/<token>.jpg")
def media(token: str):
    try:
        claims = _serializer().loads(token, max_age=current_app.config["OPEN311_MEDIA_MAX_AGE"])
    except SignatureExpired:
        raise Open311Error(410, "media link expired; fetch the request again for a fresh one") from None
    except BadSignature:
        raise Open311Error(404, "no such media") from None
    photo_uuid = claims.get("p") if isinstance(claims, dict) else None
    variant = claims.get("v") if isinstance(claims, dict) else None
    photo = db.session.scalar(select(Photo).where(Photo.uuid == photo_uuid)) if photo_uuid else None
    if photo is None or variant != VARIANT or photo.finding is None or not scope.is_public_finding(photo.finding):
        raise Open311Error(404, "no such media")
    sha = photo_service.variant_sha256(photo, variant)
    # The file can change (a re-rendered watermark) while the link stays valid: cache briefly.
    cache_control = "public, max-age=3600"
    handed_off = offloaded(key_for(sha), filename=f"{photo.uuid}.jpg", cache_control=cache_control)
    if handed_off is not None:
        return handed_off
    try:
        fh = get_storage(current_app).open(key_for(sha))
    except FileNotFoundError:
        log.error("open311 media: photo %s, stored file %s is missing", photo.uuid, sha)
        raise Open311Error(404, "no such media") from None
    response = send_file(fh, mimetype="image/jpeg", etag=sha, conditional=True,
                         download_name=f"{photo.uuid}.jpg")
    response.headers["Cache-Control"] = cache_control
    return response
