"""The authorisation matrix: one row per (endpoint, method) of the app, read by tests/test_authz_matrix.py.

A new route without a row fails ``test_every_route_has_a_row``. To add one, append a ``Route`` to
``ROUTES`` saying who may use it; the runner derives every expected status from that:

    Route("review.finding", args=finding_args, allow=ANY, scoped=True)

- ``allow``: the roles that pass the gate (``ANY`` = every logged-in role; ``PUBLIC`` = anonymous too).
- ``args(world, scope)`` builds the URL arguments for the object in the caller's own scope
  (``scope == "own"``) or in a scope nobody but desk and admin sees (``"other"``).
- ``scoped=True``: the route takes an object id; an object in another scope must answer exactly like
  an id that does not exist (404), never 403, so a URL does not reveal that the object exists.
- ``role_gate_first``: a ``role_required`` decorator runs before the object is loaded, so a role that
  may never use the route gets 403 whatever the id (otherwise visibility is checked first).
- ``data``/``json``/``raw`` build a body; ``effect(world, args) -> bool`` tells whether a POST that
  always answers with a redirect actually did something (the form views flash refusals).
- ``expect`` overrides single outcomes: {("community", "own"): "forbidden"}.

Outcomes: "login" (302 to /login, or 401 from the API), "forbidden" (403), "hidden" (404), "ok"
(anything else below 500), "refused" (an "ok" status whose ``effect`` did not happen).
"""
from __future__ import annotations

import hashlib
import io
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from PIL import Image

from tests.factories import category, make_community, make_finding, make_site, make_street
from webapp.auth.tokens import issue_token
from webapp.extensions import db
from webapp.models import Finding, Notice, Photo, Site, Status, User
from webapp.services import webhooks
from webapp.storage import get_storage, key_for

ROLES = ("anonymous", "inspector", "desk", "manager", "community", "leader", "admin")
LOGGED_IN = ROLES[1:]
ANY = frozenset(LOGGED_IN)
PUBLIC = frozenset(ROLES)
ALL_SEEING = frozenset({"desk", "admin"})
DESK = frozenset({"desk", "admin"})
REPORTS = frozenset({"leader", "desk", "admin"})
PARTY = frozenset({"manager", "community"})
ADMIN = frozenset({"admin"})

UTC = timezone.utc


@dataclass(frozen=True)
class World:
    """Ids and values only: the rows are loaded afresh by whoever needs them, in their own session."""
    users: dict[str, int]  # role → user id
    other_inspector: int
    own_finding: str  # uuid; in the manager's market, the community's community, the leader's street
    other_finding: str  # uuid; another street: only desk and admin see it
    own_note: str
    other_note: str
    own_photo: str
    other_photo: str
    own_site: int
    other_site: int
    street_id: int
    community_id: int
    category_id: int
    victim: int  # the target of the admin user pages (never one of the callers)
    victim_token_id: int
    webhook_id: int
    notice_id: int
    media_token: str


def tiny_jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (seed * 40 % 256, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def stored_photo(finding: Finding, uploader: User, seed: int) -> Photo:
    """A photo row and its file, written directly (the pipeline has its own tests)."""
    data = tiny_jpeg(seed)
    sha = hashlib.sha256(data).hexdigest()
    from flask import current_app
    get_storage(current_app).put(key_for(sha), data)
    photo = Photo(uuid=str(uuidlib.uuid4()), uploader_id=uploader.id, finding_id=finding.id, kind="before",
                  received_sha256=sha, sha256=sha, content_type="image/jpeg", byte_size=len(data), width=32,
                  height=24)
    db.session.add(photo)
    return photo


def dispatched(inspector: User, site, party_market: bool) -> Finding:
    finding = make_finding(inspector, site.community, site=site, status=Status.dispatched.value,
                           note=f"占道经营·{site.name}")
    now = datetime.now(UTC)
    finding.accepted_at, finding.dispatched_at, finding.deadline = now, now, now + timedelta(hours=8)
    finding.party_kind = "market" if party_market else "community"
    finding.party_site_id = site.id if party_market else None
    finding.party_community_id = None if party_market else site.community_id
    return finding


def build_world(password_hash: str) -> World:
    own_street, other_street = make_street("古楼街道"), make_street("南关街道")
    own_community = make_community(own_street, "香江社区")
    other_community = make_community(other_street, "五一社区")
    own_market = make_site(own_community, "湖西早市", kind="market", zones=("活禽区",))
    other_market = make_site(other_community, "胜利市场", kind="market", zones=("活禽区",))

    def person(name: str, role: str, **scope) -> User:
        user = User(username=name, display_name=name, password_hash=password_hash)
        user.set_roles([role])
        for key, value in scope.items():
            setattr(user, key, value)
        db.session.add(user)
        return user

    users = {
        "inspector": person("inspector", "inspector"),
        "desk": person("desk", "desk"),
        "manager": person("manager", "manager", sites=[own_market]),
        "community": person("community", "community", communities=[own_community]),
        "leader": person("leader", "leader", streets=[own_street]),
        "admin": person("admin", "admin"),
    }
    other_inspector = person("inspector2", "inspector")
    victim = person("victim", "inspector")
    db.session.flush()
    own = dispatched(users["inspector"], own_market, party_market=True)
    other = dispatched(other_inspector, other_market, party_market=False)
    own_photo = stored_photo(own, users["inspector"], 1)
    other_photo = stored_photo(other, other_inspector, 2)
    issue_token(victim, "phone")
    hook = webhooks.save_webhook(users["admin"], own_street, webhooks.WebhookData(
        kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=00000000-0000-0000-0000-000000000000"))
    notice = Notice(dedup_key="matrix", webhook_id=hook.id, event_type="test", content="测试")
    db.session.add(notice)
    db.session.commit()
    from webapp.open311.media import media_url
    world = World(
        users={role: user.id for role, user in users.items()}, other_inspector=other_inspector.id,
        own_finding=own.uuid, other_finding=other.uuid, own_note=own.note, other_note=other.note,
        own_photo=own_photo.uuid, other_photo=other_photo.uuid, own_site=own_market.id, other_site=other_market.id,
        street_id=own_street.id, community_id=own_community.id, category_id=category("litter").id,
        victim=victim.id, victim_token_id=victim.tokens[0].id, webhook_id=hook.id, notice_id=notice.id,
        media_token=media_url(own_photo).rsplit("/", 1)[1].removesuffix(".jpg"),
    )
    db.session.commit()
    return world


# --- argument builders ------------------------------------------------------------------------------

def finding_args(world: World, scope: str) -> dict:
    return {"finding_uuid": world.own_finding if scope == "own" else world.other_finding}


def fresh_finding_args(world: World, scope: str) -> dict:
    """A new dispatched finding per request, so one caller's action does not change the next one's case."""
    if scope == "own":
        inspector, site = db.session.get(User, world.users["inspector"]), db.session.get(Site, world.own_site)
    else:
        inspector, site = db.session.get(User, world.other_inspector), db.session.get(Site, world.other_site)
    finding = dispatched(inspector, site, party_market=scope == "own")
    db.session.commit()
    return {"finding_uuid": finding.uuid}


def photo_args(world: World, scope: str) -> dict:
    return {"photo_uuid": world.own_photo if scope == "own" else world.other_photo, "variant": "master"}


def site_args(world: World, scope: str) -> dict:
    return {"site_id": world.own_site if scope == "own" else world.other_site}


def version_moved(world: World, args: dict) -> bool:
    finding = db.session.scalar(db.select(Finding).where(Finding.uuid == args["finding_uuid"]))
    db.session.refresh(finding)
    return finding.version > 1


def acknowledge_form(world: World) -> dict:
    return {"type": "acknowledge", "action_uuid": str(uuidlib.uuid4())}


def new_finding_json(world: World) -> dict:
    return {"kind": "ok", "captured_at": datetime.now(UTC).isoformat(), "community_id": world.community_id}


def fixed(**kwargs) -> Callable[[World, str], dict]:
    return lambda world, scope: dict(kwargs)


def lazy(**builders: Callable[[World], Any]) -> Callable[[World, str], dict]:
    return lambda world, scope: {key: build(world) for key, build in builders.items()}


@dataclass(frozen=True)
class Route:
    endpoint: str
    method: str = "GET"
    allow: frozenset = ANY
    args: Callable[[World, str], dict] = fixed()
    scoped: bool = False
    role_gate_first: bool = False
    data: Callable[[World], dict] | None = None
    json: Callable[[World], Any] | None = None
    raw: Callable[[World], tuple[bytes, dict]] | None = None
    effect: Callable[[World, dict], bool] | None = None
    expect: dict = field(default_factory=dict)
    note: str = ""


def photo_upload(world: World) -> tuple[bytes, dict]:
    import base64
    data = tiny_jpeg(9)
    return data, {"Content-Type": "image/jpeg",
                  "Content-Digest": "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"}


def open311_media_args(world: World, scope: str) -> dict:
    return {"token": world.media_token}


def shell_args(world: World, scope: str) -> dict:
    from webapp.pwa.views import current_shell
    return {"version": current_shell().version, "filename": "css/app.css"}


ADMIN_OBJECTS = {
    "category": lambda w: w.category_id, "user": lambda w: w.victim, "street": lambda w: w.street_id,
    "community": lambda w: w.community_id, "site": lambda w: w.own_site,
}

ROUTES: list[Route] = [
    # --- sign-in and account
    Route("auth.home", expect={("anonymous", "own"): "login"}),
    Route("auth.login", allow=PUBLIC),
    Route("auth.login", "POST", allow=PUBLIC, data=lambda w: {"username": "", "password": ""}),
    Route("auth.logout", "POST", allow=PUBLIC, expect={(r, "own"): "login" for r in ROLES},
          note="logging out lands everyone on the login page"),
    Route("auth.account"),
    Route("auth.change_language", "POST", data=lambda w: {"locale": "zh_CN"}),
    Route("auth.change_password", "POST", data=lambda w: {"current": "wrong", "new": "x", "confirm": "x"}),
    # --- the inspector's app shell and the PWA plumbing
    Route("capture.index", allow=frozenset({"inspector"})),
    Route("pwa.manifest", allow=PUBLIC),
    Route("pwa.offline", allow=PUBLIC),
    Route("pwa.service_worker", allow=PUBLIC),
    Route("pwa.asset", allow=PUBLIC, args=shell_args),
    Route("static", allow=PUBLIC, args=fixed(filename="pwa/css/app.css")),
    Route("ops.healthz", allow=PUBLIC),
    Route("ops.readyz", allow=PUBLIC),
    # --- the API
    Route("api.session_info"),
    Route("api.reference"),
    Route("api.openapi_json", allow=PUBLIC),
    Route("api.list_findings"),
    Route("api.get_finding", args=finding_args, scoped=True),
    Route("api.put_finding", "PUT", allow=frozenset({"inspector"}),
          args=lambda w, s: {"finding_uuid": str(uuidlib.uuid4())}, json=new_finding_json),
    Route("api.put_action", "PUT", allow=frozenset({"manager"}), scoped=True,
          args=lambda w, s: {**fresh_finding_args(w, s), "action_uuid": str(uuidlib.uuid4())},
          json=lambda w: {"type": "acknowledge"},
          note="acknowledge: only the party the finding was dispatched to (the market's manager)"),
    Route("api.put_photo", "PUT", args=lambda w, s: {"photo_uuid": str(uuidlib.uuid4())}, raw=photo_upload),
    Route("api.photo_file", args=photo_args, scoped=True),
    # --- the desk
    Route("review.queue", allow=DESK, role_gate_first=True),
    Route("review.bulk", "POST", allow=DESK, role_gate_first=True, data=lambda w: {"type": "accept"}),
    Route("review.finding", args=finding_args, scoped=True),
    Route("review.act", "POST", allow=frozenset({"manager"}), scoped=True, args=fresh_finding_args,
          data=acknowledge_form, effect=version_moved,
          note="the form view flashes a refusal and redirects (\"refused\"); an invisible finding is a 404"),
    # --- the parties and the verifiers
    Route("tasks.index", allow=PARTY, role_gate_first=True),
    Route("tasks.verify", allow=frozenset({"inspector", "desk", "admin"}), role_gate_first=True),
    Route("tasks.act", "POST", allow=frozenset({"manager"}), scoped=True, args=fresh_finding_args,
          data=acknowledge_form, effect=version_moved,
          expect={(r, "other"): "refused" for r in LOGGED_IN},
          note="an invisible finding gets the same flash and redirect as a missing one, not a 404 "
               "(test_invisible_is_the_same_as_missing proves nothing leaks)"),
    # --- reports and exports
    Route("reports.dashboard", allow=REPORTS, role_gate_first=True),
    Route("reports.daily", allow=REPORTS, role_gate_first=True),
    Route("reports.inspectors", allow=REPORTS, role_gate_first=True),
    Route("reports.markets", allow=REPORTS, role_gate_first=True),
    Route("reports.site", allow=REPORTS, role_gate_first=True, args=site_args, scoped=True),
    Route("reports.findings_csv", allow=REPORTS, role_gate_first=True),
    Route("reports.findings_xlsx", allow=REPORTS, role_gate_first=True),
    Route("reports.league_csv", allow=REPORTS, role_gate_first=True),
    Route("reports.league_xlsx", allow=REPORTS, role_gate_first=True),
    # --- Open311: public reads for partner platforms; writes need a partner's api_key, never a session
    Route("open311.discovery", allow=PUBLIC, args=fixed(fmt="json")),
    Route("open311.services", allow=PUBLIC, args=fixed(fmt="json")),
    Route("open311.list_requests", allow=PUBLIC, args=fixed(fmt="json")),
    Route("open311.get_request", allow=PUBLIC, args=lambda w, s: {"service_request_id": w.own_finding,
                                                                   "fmt": "json"}),
    Route("open311.media", allow=PUBLIC, args=open311_media_args),
    Route("open311.post_request", "POST", allow=frozenset(), args=fixed(fmt="json"),
          data=lambda w: {"service_code": "litter"}, expect={("anonymous", "own"): "forbidden"},
          note="a session is not a partner key: 403 for everyone without api_key"),
    # --- the admin console: admins only, the gate is the blueprint's before_request
    Route("admin.index", allow=ADMIN, role_gate_first=True),
    Route("admin.audit", allow=ADMIN, role_gate_first=True),
    Route("admin.categories", allow=ADMIN, role_gate_first=True),
    Route("admin.category_new", allow=ADMIN, role_gate_first=True),
    Route("admin.category_new", "POST", allow=ADMIN, role_gate_first=True, data=lambda w: {}),
    Route("admin.category_edit", allow=ADMIN, role_gate_first=True, args=lazy(category_id=ADMIN_OBJECTS["category"])),
    Route("admin.category_edit", "POST", allow=ADMIN, role_gate_first=True,
          args=lazy(category_id=ADMIN_OBJECTS["category"]), data=lambda w: {}),
    Route("admin.category_action", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"category_id": w.category_id, "verb": "down"}, data=lambda w: {}),
    Route("admin.notices", allow=ADMIN, role_gate_first=True),
    Route("admin.notice_resend", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"notice_id": w.notice_id}, data=lambda w: {}),
    Route("admin.webhook_test", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"webhook_id": w.webhook_id}, data=lambda w: {}),
    Route("admin.places", allow=ADMIN, role_gate_first=True),
    Route("admin.places_import", allow=ADMIN, role_gate_first=True),
    Route("admin.places_import", "POST", allow=ADMIN, role_gate_first=True, data=lambda w: {}),
    Route("admin.street_new", "POST", allow=ADMIN, role_gate_first=True, data=lambda w: {"name": ""}),
    Route("admin.street_edit", allow=ADMIN, role_gate_first=True, args=lazy(street_id=ADMIN_OBJECTS["street"])),
    Route("admin.community_new", "POST", allow=ADMIN, role_gate_first=True,
          args=lazy(street_id=ADMIN_OBJECTS["street"]), data=lambda w: {"name": ""}),
    Route("admin.community_edit", allow=ADMIN, role_gate_first=True,
          args=lazy(community_id=ADMIN_OBJECTS["community"])),
    Route("admin.site_new", "POST", allow=ADMIN, role_gate_first=True,
          args=lazy(community_id=ADMIN_OBJECTS["community"]), data=lambda w: {"name": ""}),
    Route("admin.site_edit", allow=ADMIN, role_gate_first=True, args=lazy(site_id=ADMIN_OBJECTS["site"])),
    Route("admin.site_edit", "POST", allow=ADMIN, role_gate_first=True, args=lazy(site_id=ADMIN_OBJECTS["site"]),
          data=lambda w: {}),
    Route("admin.zone_new", "POST", allow=ADMIN, role_gate_first=True, args=lazy(site_id=ADMIN_OBJECTS["site"]),
          data=lambda w: {"name": ""}),
    Route("admin.place_rename", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"kind": "street", "entity_id": w.street_id}, data=lambda w: {"name": ""}),
    Route("admin.place_retire", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"kind": "street", "entity_id": w.street_id, "verb": "restore"}, data=lambda w: {}),
    Route("admin.webhook_save", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"kind": "community", "entity_id": w.community_id}, data=lambda w: {"kind": "x"}),
    Route("admin.webhook_delete", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"kind": "community", "entity_id": w.community_id}, data=lambda w: {}),
    Route("admin.users", allow=ADMIN, role_gate_first=True),
    Route("admin.user_new", allow=ADMIN, role_gate_first=True),
    Route("admin.user_new", "POST", allow=ADMIN, role_gate_first=True, data=lambda w: {}),
    Route("admin.user_edit", allow=ADMIN, role_gate_first=True, args=lazy(user_id=ADMIN_OBJECTS["user"])),
    Route("admin.user_edit", "POST", allow=ADMIN, role_gate_first=True, args=lazy(user_id=ADMIN_OBJECTS["user"]),
          data=lambda w: {}),
    Route("admin.user_disable", "POST", allow=ADMIN, role_gate_first=True, args=lazy(user_id=ADMIN_OBJECTS["user"]),
          data=lambda w: {}),
    Route("admin.user_enable", "POST", allow=ADMIN, role_gate_first=True, args=lazy(user_id=ADMIN_OBJECTS["user"]),
          data=lambda w: {}),
    Route("admin.user_reset_password", "POST", allow=ADMIN, role_gate_first=True,
          args=lazy(user_id=ADMIN_OBJECTS["user"]), data=lambda w: {}),
    Route("admin.token_revoke", "POST", allow=ADMIN, role_gate_first=True,
          args=lambda w, s: {"user_id": w.victim, "token_id": w.victim_token_id}, data=lambda w: {}),
]


def expected(route: Route, role: str, scope: str) -> str:
    if (role, scope) in route.expect:
        return route.expect[(role, scope)]
    if role == "anonymous":
        return "ok" if "anonymous" in route.allow else "login"
    allowed = role in route.allow
    if not route.scoped:
        return "ok" if allowed else "forbidden"
    # Every logged-in role sees the "own" objects; only desk and admin see the other scope's.
    visible = scope == "own" or role in ALL_SEEING
    if route.role_gate_first:
        if not allowed:
            return "forbidden"
        return "ok" if visible else "hidden"
    if not visible:
        return "hidden"
    if route.effect is not None:
        return "ok" if allowed else "refused"
    return "ok" if allowed else "forbidden"
