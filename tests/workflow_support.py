"""Test data for the workflow tests: one street with two communities, two markets with zones, and a
user for each role; findings put straight into any workflow state."""
from __future__ import annotations

import base64
import hashlib
import io
import random
import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from PIL import Image, ImageDraw
from sqlalchemy import select

from tests.factories import make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import Community, Finding, Photo, Site, Status, User
from webapp.services.photos import attach_photos, ingest_photo

UTC = timezone.utc


@dataclass
class World:
    street: object
    xiangjiang: Community  # 香江社区
    huijin: Community  # 汇金社区
    market: Site  # 湖西早市 (in 香江社区)
    other_market: Site  # 柳园农贸市场 (in 汇金社区)
    lane: Site  # a back lane in 香江社区
    desk: User
    admin: User
    inspector: User
    other_inspector: User
    staff: User  # 香江社区 community staff
    other_staff: User  # 汇金社区 community staff
    manager: User  # 湖西早市 manager
    other_manager: User
    leader: User


_PASSWORD_HASH: list[str] = []


def fast_user(username: str, roles=("inspector",), **kw) -> User:
    """``make_user`` with the password hash computed once per run (scrypt costs ~0.1 s a user)."""
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(make_user("_hash_probe").password_hash)
        db.session.delete(db.session.scalar(select(User).where(User.username == "_hash_probe")))
        db.session.flush()
    user = User(username=username, display_name=kw.pop("display_name", username), password_hash=_PASSWORD_HASH[0])
    user.set_roles(roles)
    user.streets = list(kw.pop("streets", ()))
    user.communities = list(kw.pop("communities", ()))
    user.sites = list(kw.pop("sites", ()))
    db.session.add(user)
    db.session.flush()
    return user


def build_world() -> World:
    street = make_street("古楼街道")
    xiangjiang = make_community(street, "香江社区")
    huijin = make_community(street, "汇金社区")
    market = make_site(xiangjiang, "湖西早市", kind="market", zones=("果蔬区", "水产品区", "活禽区"),
                       latitude=36.4561, longitude=115.9853)
    other_market = make_site(huijin, "柳园农贸市场", kind="market", zones=("果蔬区",))
    lane = make_site(xiangjiang, "香江背街", kind="back_lane")
    world = World(
        street=street, xiangjiang=xiangjiang, huijin=huijin, market=market, other_market=other_market, lane=lane,
        desk=fast_user("desk", roles=("desk",), display_name="内勤小王"),
        admin=fast_user("admin", roles=("admin",)),
        inspector=fast_user("insp", roles=("inspector",), display_name="督导员甲"),
        other_inspector=fast_user("insp2", roles=("inspector",)),
        staff=fast_user("staff", roles=("community",), communities=[xiangjiang]),
        other_staff=fast_user("staff2", roles=("community",), communities=[huijin]),
        manager=fast_user("mgr", roles=("manager",), sites=[market], display_name="市场管理员"),
        other_manager=fast_user("mgr2", roles=("manager",), sites=[other_market]),
        leader=fast_user("leader", roles=("leader",), streets=[street]),
    )
    db.session.commit()
    return world


def finding_in(world: World, status: str, *, market: bool = False, captured_at: datetime | None = None,
               dispatched_at: datetime | None = None, deadline: datetime | None = None, **kw) -> Finding:
    """A finding put straight into ``status`` with the fields that state implies."""
    site = world.market if market else kw.pop("site", world.lane)
    kind = "ok" if status == Status.ok.value else "problem"
    f = make_finding(world.inspector, site.community, site=site, kind=kind, status=status,
                     captured_at=captured_at or datetime(2026, 5, 6, 1, 0, tzinfo=UTC), **kw)
    if status in (Status.dispatched.value, Status.acknowledged.value, Status.disputed.value,
                  Status.rectified.value, Status.verified.value):
        f.party_kind = "market" if market else "community"
        f.party_site_id = world.market.id if market else None
        f.party_community_id = None if market else site.community_id
        f.dispatched_at = dispatched_at or f.captured_at + timedelta(hours=1)
        f.deadline = deadline or f.dispatched_at + timedelta(hours=8)
    if status in (Status.acknowledged.value, Status.rectified.value, Status.verified.value):
        f.acknowledged_at = f.dispatched_at + timedelta(minutes=5)
    if status in (Status.rectified.value, Status.verified.value):
        f.rectified_at = f.dispatched_at + timedelta(hours=2)
    if status != Status.submitted.value and status not in (Status.ok.value,):
        f.accepted_at = f.captured_at + timedelta(minutes=30)
    db.session.commit()
    return f


def jpeg(seed: int = 1, size=(640, 480), quality: int = 85, shapes: bool = True) -> bytes:
    """A photo-like picture made in memory: noise plus a few shapes, deterministic by ``seed``."""
    # Seeded noise (Image.effect_noise is not), so a picture and its perceptual hash repeat run to run.
    noise = random.Random(seed).randbytes(size[0] * size[1])
    img = Image.frombytes("L", size, noise).convert("RGB")
    if shapes:
        draw = ImageDraw.Draw(img)
        for i in range(6):
            x = (seed * 97 + i * 131) % size[0]
            y = (seed * 53 + i * 71) % size[1]
            colour = ((seed * 40 + i * 70) % 256, (seed * 90 + i * 30) % 256, (i * 50) % 256)
            draw.rectangle([x, y, x + size[0] // 3, y + size[1] // 4], fill=colour)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def upload(user: User, data: bytes | None = None, **kw) -> Photo:
    """A photo through the real pipeline (phash, derivatives), unattached, owned by ``user``."""
    data = data if data is not None else jpeg(**kw)
    photo, _ = ingest_photo(user, str(uuidlib.uuid4()), data, "image/jpeg", digest(data))
    return photo


def attach_before(finding: Finding, photo: Photo) -> None:
    attach_photos(finding, [photo], "before", finding.inspector, finding.captured_at)
    db.session.commit()


def new_uuid() -> str:
    return str(uuidlib.uuid4())
