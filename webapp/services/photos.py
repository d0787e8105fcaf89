"""Photos: an upload becomes stored files plus a ``Photo`` row; attaching one to a finding watermarks it.

The order is what makes a photo impossible to lose or half-store: verify the bytes against the
phone's digest, run the pipeline, write every file (durably) and only then commit the row that points
at them. A crash in between leaves unreferenced files, which ``collect_garbage`` removes; never a row
pointing at a missing file. A phone resends after a lost response, so the same uuid with the same
bytes answers with the stored row instead of a second one.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import uuid as uuidlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from .. import images, watermark
from ..extensions import db
from ..models import Finding, Photo, PhotoKind, User
from ..models.mixins import utcnow
from ..storage import get_storage, key_for
from .errors import BadRequest, Conflict, Invalid, PayloadTooLarge, UnsupportedMedia

log = logging.getLogger(__name__)

DIGEST_ALGORITHMS = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}
UNATTACHED_MAX_AGE = timedelta(days=7)
ORPHAN_FILE_MIN_AGE = timedelta(hours=1)


def normalise_uuid(value: str) -> str | None:
    """The canonical lower-case 8-4-4-4-12 form, or None: braces, URNs and bare hex are not accepted."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return str(uuidlib.UUID(value))
    except ValueError:
        return None


def parse_content_digest(header: str | None) -> dict[str, bytes]:
    """RFC 9530 ``Content-Digest`` (a structured-field dictionary of byte sequences) → {algorithm: digest}."""
    digests: dict[str, bytes] = {}
    for member in (header or "").split(","):
        name, sep, value = member.strip().partition("=")
        value = value.split(";", 1)[0].strip()
        if not sep or len(value) < 2 or value[0] != ":" or value[-1] != ":":
            continue
        try:
            digests[name.strip().lower()] = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(_("Content-Digest 格式不正确。"), code="digest_malformed") from None
    return digests


def verify_digest(data: bytes, header: str | None) -> str:
    """A truncated or altered upload must be refused, so a known digest is required and must match.
    Returns the body's SHA-256 in hex (the row keeps it), computed once for both uses."""
    digests = {alg: value for alg, value in parse_content_digest(header).items() if alg in DIGEST_ALGORITHMS}
    if not digests:
        raise BadRequest(_("缺少 Content-Digest 请求头(sha-256)。"), code="digest_required")
    sha256 = hashlib.sha256(data).digest()
    for alg, expected in digests.items():
        if (sha256 if alg == "sha-256" else DIGEST_ALGORITHMS[alg](data).digest()) != expected:
            raise BadRequest(_("照片在传输中不完整或已损坏(摘要不符),请重新上传。"), code="digest_mismatch")
    return sha256.hex()


def ingest_photo(user: User, photo_uuid: str, data: bytes, content_type: str,
                 content_digest: str | None) -> tuple[Photo, bool]:
    """Store an uploaded photo under the phone's uuid; returns (photo, created).

    Raises BadRequest (bad uuid, digest missing or wrong, corrupt image, decompression bomb),
    Conflict (uuid already used for other bytes or by someone else), PayloadTooLarge, UnsupportedMedia.
    """
    config = current_app.config
    uid = normalise_uuid(photo_uuid)
    if uid is None:
        raise BadRequest(_("照片编号不是有效的 UUID。"), code="invalid_uuid")
    if len(data) > config["MAX_PHOTO_BYTES"]:
        raise PayloadTooLarge(_("照片太大(上限 %(mb)s MB)。", mb=config["MAX_PHOTO_BYTES"] // (1024 * 1024)))
    received_sha256 = verify_digest(data, content_digest)
    user_id = user.id

    existing = db.session.scalar(select(Photo).where(Photo.uuid == uid))
    if existing is not None:
        return _repeat(existing, user_id, received_sha256), False
    # End the read transaction before the slow part, so SQLite's write lock is not held while decoding.
    db.session.rollback()

    try:
        processed = images.process(data, content_type, max_pixels=config["MAX_IMAGE_PIXELS"])
    except images.UnsupportedImage as exc:
        raise UnsupportedMedia(_("只接受 JPEG、PNG、WebP 照片,且类型须与内容一致。"),
                               detail=str(exc)) from None
    except images.DecompressionBomb:
        raise BadRequest(_("照片像素过多,已拒收。"), code="decompression_bomb") from None
    except images.CorruptImage as exc:
        raise BadRequest(_("照片已损坏或不完整,无法读取。"), code="corrupt_image", detail=str(exc)) from None

    store = get_storage(current_app)
    for rendition in (processed.master, processed.view, processed.thumb):
        store.put(key_for(rendition.sha256), rendition.data)

    photo = Photo(
        uuid=uid, uploader_id=user_id, received_sha256=received_sha256, sha256=processed.master.sha256,
        view_sha256=processed.view.sha256, thumb_sha256=processed.thumb.sha256,
        content_type=images.normalise_type(content_type), byte_size=len(data),
        width=processed.master.width, height=processed.master.height, phash=processed.phash,
        taken_at=_aware(processed.taken_at),
    )
    db.session.add(photo)
    try:
        commit_keeping_state()
    except IntegrityError:
        # A concurrent upload of the same uuid won the insert: answer as for a resend.
        db.session.rollback()
        existing = db.session.scalar(select(Photo).where(Photo.uuid == uid))
        if existing is None:
            raise
        return _repeat(existing, user_id, received_sha256), False
    return photo, True


def commit_keeping_state() -> None:
    """Commit without expiring the session's objects. The answer serialises the rows this request has
    just written; expired, each would be read back (a SELECT apiece, and on SQLite a new write
    transaction holding the lock until the request ends) only to get the values we wrote."""
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def _repeat(existing: Photo, user_id: int, received_sha256: str) -> Photo:
    if existing.uploader_id != user_id or existing.received_sha256 != received_sha256:
        raise Conflict(_("此照片编号已用于另一张照片。"), code="photo_conflict")
    return existing


def _aware(taken: datetime | None) -> datetime | None:
    """EXIF time without an offset is the camera's local time; we take it as the service's zone."""
    if taken is None:
        return None
    if taken.tzinfo is None:
        taken = taken.replace(tzinfo=ZoneInfo(current_app.config["LOCAL_TIMEZONE"]))
    return taken.astimezone(timezone.utc)


# --- attaching and watermarking ---------------------------------------------------------------------

# Burned into the picture, so deliberately Chinese whatever the viewer's language (like 水印相机 apps).
WATERMARK_ROLE_LABEL = {PhotoKind.before.value: "督导员", PhotoKind.evidence.value: "督导员",
                        PhotoKind.after.value: "整改人"}


def attach_photos(finding: Finding, photos: list[Photo], kind: str, actor: User, at: datetime, *,
                  first_position: int | None = None) -> None:
    """Attach photos to a flushed finding in the caller's transaction (no commit) and watermark their views.

    The watermarked views are stored first, then each photo is claimed and pointed at its marked view in
    one ``UPDATE … WHERE finding_id IS NULL``, so two findings racing for one photo cannot both get it:
    the loser raises ``Invalid`` and its caller rolls back (its marked file is an orphan for gc). A new
    finding passes ``first_position=0``; otherwise the photos go after those it already has.
    """
    kind = PhotoKind(kind).value
    start = first_position if first_position is not None else db.session.scalar(
        select(func.coalesce(func.max(Photo.position), -1)).where(Photo.finding_id == finding.id)) + 1
    lines = watermark_lines(finding, kind, actor, at)
    marked = [render_watermark(photo, lines) for photo in photos]
    taken = []
    for offset, photo in enumerate(photos):
        result = db.session.execute(
            update(Photo)
            .where(Photo.id == photo.id, or_(Photo.finding_id.is_(None), Photo.finding_id == finding.id))
            .values(finding_id=finding.id, kind=kind, position=start + offset, marked_sha256=marked[offset])
            .execution_options(synchronize_session="fetch")
        )
        if result.rowcount != 1:
            taken.append(photo.uuid)
    if taken:
        raise Invalid(_("照片已属于其他记录。"), fields={"photo_ids": _("已被使用: %(ids)s", ids=", ".join(taken))},
                      attached_photo_ids=taken)


def watermark_lines(finding: Finding, kind: str, actor: User, at: datetime) -> list[tuple[str, str]]:
    local = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    when = (finding.captured_at if kind == PhotoKind.before.value else at).astimezone(local)
    place = "·".join(part for part in (
        finding.community.name if finding.community else "",
        finding.site.name if finding.site else "",
        finding.zone.name if finding.zone else "",
    ) if part)
    person = finding.inspector if kind in (PhotoKind.before.value, PhotoKind.evidence.value) else actor
    return [("时间", when.strftime("%Y-%m-%d %H:%M")), ("地点", place or "—"),
            (WATERMARK_ROLE_LABEL[kind], person.display_name if person else "—")]


def render_watermark(photo: Photo, lines: list[tuple[str, str]]) -> str:
    """Render from the clean view (never from an already-marked one) and store it durably; returns its
    hash for the row, which the caller writes afterwards."""
    store = get_storage(current_app)
    source = photo.view_sha256 or photo.sha256
    font = watermark.find_cjk_font(current_app.config.get("WATERMARK_FONT"))
    marked = watermark.watermark(store.read(key_for(source)), lines, font_path=font)
    store.put(key_for(marked.sha256), marked.data)
    return marked.sha256


# --- serving ---------------------------------------------------------------------------------------

VARIANTS = ("view", "thumb", "master")


def variant_sha256(photo: Photo, variant: str) -> str:
    """The stored file for a variant; rows copied without derivatives fall back to the master."""
    if variant == "view":
        return photo.marked_sha256 or photo.view_sha256 or photo.sha256
    if variant == "thumb":
        return photo.thumb_sha256 or photo.view_sha256 or photo.sha256
    return photo.sha256


def photo_urls(photo: Photo) -> dict[str, str]:
    """URLs for serializers. The ``v`` query names the content: the view changes when it is watermarked,
    and the responses are cached as immutable, so a new content must be a new URL."""
    return {
        f"{variant}_url": url_for("api.photo_file", photo_uuid=photo.uuid, variant=variant,
                                  v=variant_sha256(photo, variant)[:16])
        for variant in ("view", "thumb")
    }


def visible_to(user: User, photo: Photo) -> bool:
    """A photo is seen by whoever may see its finding; an unattached one only by its uploader."""
    from .. import scope

    if photo.finding_id is None:
        return photo.uploader_id == user.id
    return scope.can_see_finding(user, photo.finding)


# --- garbage collection ------------------------------------------------------------------------------

def collect_garbage(now: datetime | None = None, *, unattached_age: timedelta = UNATTACHED_MAX_AGE,
                    orphan_age: timedelta = ORPHAN_FILE_MIN_AGE, batch: int = 500) -> dict[str, int]:
    """Delete photos never attached within ``unattached_age``, then files no row references.

    Files younger than ``orphan_age`` are kept: an upload writes its files before its row commits.
    Each candidate's age is checked again right before deletion, because a resend of the same bytes
    refreshes the file's age while its row is being committed.
    """
    now = now or utcnow()
    store = get_storage(current_app)
    rows = db.session.execute(
        delete(Photo).where(Photo.finding_id.is_(None), Photo.event_id.is_(None),
                            Photo.created_at < now - unattached_age)
    ).rowcount
    db.session.commit()

    cutoff = now - orphan_age
    files = 0
    pending: list[str] = []

    def sweep(keys: list[str]) -> int:
        hashes = {k.rsplit("/", 1)[1].split(".", 1)[0]: k for k in keys}
        referenced: set[str] = set()
        for column in (Photo.sha256, Photo.view_sha256, Photo.thumb_sha256, Photo.marked_sha256):
            referenced.update(db.session.scalars(select(column).where(column.in_(list(hashes)))))
        db.session.rollback()
        removed = 0
        for sha, key in hashes.items():
            if sha not in referenced and store.is_older_than(key, cutoff) and store.delete(key):
                removed += 1
        return removed

    for key in store.keys(older_than=cutoff):
        pending.append(key)
        if len(pending) >= batch:
            files += sweep(pending)
            pending = []
    if pending:
        files += sweep(pending)
    temps = store.cleanup(cutoff)
    return {"photos": rows or 0, "files": files, "temp_files": temps}
