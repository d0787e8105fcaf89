"""What every report page shares: turning service errors into a readable page (never a 500),
photo thumbnail URLs and links to other blueprints' pages when they exist."""
from __future__ import annotations

from flask import Response, current_app, render_template, request, url_for

from ..services.errors import ServiceError
from . import bp


def wants_text() -> bool:
    return request.args.get("format") in ("text", "csv") or request.path.endswith(".csv")


@bp.errorhandler(ServiceError)
def _report_error(err: ServiceError):
    if wants_text():
        return Response(err.message + "\n", status=err.status, mimetype="text/plain; charset=utf-8")
    return render_template("reports/error.html", error=err), err.status


def has_endpoint(name: str) -> bool:
    return name in current_app.view_functions


class ThumbUrls:
    """Thumbnail URLs for many photos at once, from each photo's uuid and the hash of its thumbnail's
    content (``photos.variant_sha256(photo, "thumb")``).

    ``url_for`` per photo costs ~15 µs; a street's 10,000-finding day would spend most of its
    300 ms budget on it. The URL is built once with placeholders and filled in per photo — the
    same URL the photo service's ``photo_urls`` gives.
    """

    def __init__(self) -> None:
        self.template = None
        if has_endpoint("api.photo_file"):
            self.template = url_for("api.photo_file", photo_uuid="UUID0", variant="thumb", v="VERSION0")

    def __call__(self, photo_uuid: str, thumb_sha256: str) -> str | None:
        if self.template is None:
            return None
        return self.template.replace("UUID0", photo_uuid).replace("VERSION0", thumb_sha256[:16])


class FindingLinks:
    """Link a finding row to the desk's finding page when that page exists (it is keyed by the
    finding's uuid or id, whichever its one URL argument is called)."""

    def __init__(self) -> None:
        self.template = None
        self.by_id = False
        rules = [r for r in current_app.url_map.iter_rules() if r.endpoint == "review.finding"]
        if rules and len(rules[0].arguments) == 1:
            (name,) = rules[0].arguments
            self.by_id = "uuid" not in name
            self.template = url_for("review.finding", **{name: 987654321 if self.by_id else "UUID0"})

    def __call__(self, uuid: str, finding_id: int | None = None) -> str | None:
        if self.template is None:
            return None
        if self.by_id:
            return self.template.replace("987654321", str(finding_id))
        return self.template.replace("UUID0", uuid)
