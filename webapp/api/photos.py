"""Photo upload (PUT, idempotent by the phone's uuid) and authorised serving of the stored renditions."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request, send_file
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Photo
from ..photo_serving import offloaded
from ..services import photos as photo_service
from ..services.errors import PayloadTooLarge
from ..storage import get_storage, key_for
from . import bp
from .errors import ApiError
from .schemas import photo_json

log = logging.getLogger(__name__)

IMMUTABLE = "private, max-age=31536000, immutable"


@bp.put("/photos/<photo_uuid>")
@login_required
def put_photo(photo_uuid: str):
    limit = current_app.config["MAX_PHOTO_BYTES"]
    # Refuse by the declared length before reading a byte of the body.
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(_("照片太大(上限 %(mb)s MB)。", mb=limit // (1024 * 1024)))
    data = request.stream.read(limit + 1)
    photo, created = photo_service.ingest_photo(
        current_user._get_current_object(), photo_uuid, data, request.content_type or "",
        request.headers.get("Content-Digest"),
    )
    response = jsonify(photo_json(photo))
    response.status_code = 201 if created else 200
    return response


@bp.get("/photos/<photo_uuid>/<variant>")
@login_required
def photo_file(photo_uuid: str, variant: str):
    """404 for anything the viewer may not see, so a photo's existence does not leak."""
    uid = photo_service.normalise_uuid(photo_uuid)
    photo = None
    if uid is not None and variant in photo_service.VARIANTS:
        photo = db.session.scalar(select(Photo).where(Photo.uuid == uid))
    if photo is None or not photo_service.visible_to(current_user, photo):
        raise ApiError(404, "not_found", _("照片不存在。"))
    sha = photo_service.variant_sha256(photo, variant)
    # A presigned bucket link or nginx's X-Accel-Redirect when configured (webapp/photo_serving.py).
    handed_off = offloaded(key_for(sha), filename=f"{photo.uuid}-{variant}.jpg", cache_control=IMMUTABLE)
    if handed_off is not None:
        return handed_off
    try:
        fh = get_storage(current_app).open(key_for(sha))
    except FileNotFoundError:
        log.error("photo %s: stored file %s is missing", photo.uuid, sha)
        raise ApiError(404, "not_found", _("照片文件缺失。")) from None
    response = send_file(fh, mimetype="image/jpeg", etag=sha, conditional=True, max_age=31536000,
                         download_name=f"{photo.uuid}-{variant}.jpg")
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["Content-Disposition"] = f'inline; filename="{photo.uuid}-{variant}.jpg"'
    return response
