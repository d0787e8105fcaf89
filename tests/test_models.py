"""The data model: relationships, aware-UTC datetimes on every backend, and the unique rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError

from tests.factories import category, make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import ApiToken, Category, Community, Event, Finding, Photo, Site, Street, User


def test_place_hierarchy_and_zones(ctx):
    street = make_street("古楼街道")
    community = make_community(street, "汇金社区")
    market = make_site(community, "湖西早市", kind="market", zones=("果蔬区", "水产品区", "活禽区"))
    make_site(community, "运河路西沿儿商户", kind="shop_frontage")
    db.session.commit()
    db.session.expire_all()

    street = db.session.scalar(select(Street).where(Street.name == "古楼街道"))
    assert [c.name for c in street.communities] == ["汇金社区"]
    sites = street.communities[0].sites
    assert sorted(s.name for s in sites) == ["湖西早市", "运河路西沿儿商户"]
    market = next(s for s in sites if s.name == "湖西早市")
    assert market.is_market and market.community.street is street
    assert [z.name for z in market.zones] == ["果蔬区", "水产品区", "活禽区"]  # sort_order, not name
    assert market.zones[0].site is market
    assert market.active and street.active


def test_user_roles_scopes_and_password(ctx):
    street = make_street()
    community = make_community(street)
    market = make_site(community, kind="market")
    user = make_user("multi", roles=("inspector", "community"), communities=[community], sites=[market],
                     streets=[street])
    db.session.commit()
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "multi"))
    assert user.roles == {"inspector", "community"}
    assert user.has_role("community") and not user.has_role("desk")
    assert user.communities == [community] and user.sites == [market] and user.streets == [street]
    assert user.check_password("correct-horse-42") and not user.check_password("wrong")
    assert not user.password_hash.startswith("correct")  # stored hashed
    user.set_roles(["desk"])
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).roles == {"desk"}


def test_finding_photos_and_events(ctx):
    inspector = make_user("insp")
    site = make_site()
    finding = make_finding(inspector, site.community, site=site, note="店外摆放酒箱、桌椅等物品")
    photo = Photo(uuid="7d3c1a2e-0000-4000-8000-000000000001", uploader_id=inspector.id, finding_id=finding.id,
                  kind="before", received_sha256="a" * 64, sha256="b" * 64, content_type="image/jpeg",
                  byte_size=1234, width=800, height=600)
    db.session.add(photo)
    db.session.add(Event(finding_id=finding.id, actor_id=inspector.id, type="create", to_status="submitted"))
    db.session.add(Event(finding_id=finding.id, actor_id=inspector.id, type="accept", from_status="submitted",
                         to_status="accepted", data={"note": "立案"}))
    db.session.commit()
    db.session.expire_all()

    finding = db.session.get(Finding, finding.id)
    assert finding.inspector.username == "insp"
    assert finding.community is site.community and finding.site is site
    assert finding.category.code == "litter"
    assert [p.uuid for p in finding.photos] == [photo.uuid]
    assert [e.type for e in finding.events] == ["create", "accept"]  # append order
    assert finding.events[1].data == {"note": "立案"}
    assert finding.events[0].actor.username == "insp"


def test_utc_datetime_round_trip_keeps_aware_utc(ctx):
    inspector = make_user()
    community = make_community()
    shanghai = datetime(2026, 9, 18, 8, 30, 15, 123000, tzinfo=ZoneInfo("Asia/Shanghai"))
    finding = make_finding(inspector, community, captured_at=shanghai)
    db.session.commit()
    finding_id = finding.id
    db.session.expire_all()

    loaded = db.session.get(Finding, finding_id)
    assert loaded.captured_at.tzinfo is not None
    assert loaded.captured_at.utcoffset() == timedelta(0)
    assert loaded.captured_at == shanghai  # the same instant
    assert loaded.captured_at.hour == 0 and loaded.captured_at.minute == 30  # 08:30 Shanghai = 00:30 UTC
    assert loaded.created_at.utcoffset() == timedelta(0)

    # A comparison in SQL sees the UTC instant, whatever zone the value was given in.
    later = datetime(2026, 9, 18, 0, 31, tzinfo=timezone.utc)
    assert db.session.scalar(select(Finding.id).where(Finding.captured_at < later)) == finding_id
    assert db.session.scalar(select(Finding.id).where(Finding.captured_at < later - timedelta(minutes=2))) is None


def test_naive_datetime_is_refused(ctx):
    inspector = make_user()
    community = make_community()
    with pytest.raises(StatementError, match="naive datetime"):
        make_finding(inspector, community, captured_at=datetime(2026, 9, 18, 8, 30))
    db.session.rollback()


def _dup_street():
    make_street("柳园街道")
    make_street("柳园街道")


def _dup_community():
    street = make_street()
    make_community(street, "文苑社区")
    make_community(street, "文苑社区")


def _dup_site():
    community = make_community()
    make_site(community, "新嘉园小区")
    make_site(community, "新嘉园小区")


def _dup_zone():
    make_site(kind="market", zones=("活禽区", "活禽区"))


def _dup_category():
    category("litter")
    db.session.add(Category(code="litter", name_zh="散落垃圾", name_en="Litter", family="environment"))
    db.session.flush()


def _dup_username():
    make_user("inspector")
    make_user("inspector")


def _dup_finding_uuid():
    inspector, community = make_user(), make_community()
    first = make_finding(inspector, community)
    db.session.add(Finding(uuid=first.uuid, kind="ok", inspector=inspector, community=community,
                           captured_at=datetime.now(timezone.utc), payload_hash="0" * 64, status="ok"))
    db.session.flush()


def _dup_photo_uuid():
    user = make_user()
    for _ in range(2):
        db.session.add(Photo(uuid="7d3c1a2e-0000-4000-8000-000000000002", uploader_id=user.id,
                             received_sha256="a" * 64, sha256="a" * 64, content_type="image/jpeg", byte_size=1,
                             width=1, height=1))
    db.session.flush()


def _dup_action_uuid():
    inspector, community = make_user(), make_community()
    finding = make_finding(inspector, community)
    for _ in range(2):
        db.session.add(Event(finding_id=finding.id, type="accept", action_uuid="7d3c1a2e-0000-4000-8000-00000000000a"))
    db.session.flush()


def _dup_token_hash():
    user = make_user()
    db.session.add_all([ApiToken(user=user, token_hash="c" * 64), ApiToken(user=user, token_hash="c" * 64)])
    db.session.flush()


@pytest.mark.parametrize("build", [
    _dup_street, _dup_community, _dup_site, _dup_zone, _dup_category, _dup_username, _dup_finding_uuid,
    _dup_photo_uuid, _dup_action_uuid, _dup_token_hash,
], ids=lambda f: f.__name__.removeprefix("_dup_"))
def test_unique_constraints(ctx, build):
    with pytest.raises(IntegrityError):
        build()
    db.session.rollback()


def test_same_names_allowed_under_different_parents(ctx):
    """A community name repeats across streets, a site name across communities: only siblings clash."""
    make_community(make_street("古楼街道"), "（示例）社区")
    make_community(make_street("新区街道"), "（示例）社区")
    make_site(make_community(), "家属院")
    make_site(make_community(), "家属院")
    db.session.commit()
    assert db.session.scalar(select(Community.id).where(Community.name == "（示例）社区").limit(1))
    assert len(db.session.scalars(select(Site).where(Site.name == "家属院")).all()) == 2


def test_foreign_keys_are_enforced(ctx):
    """SQLite ignores foreign keys unless told; a site in a missing community must fail on both backends."""
    with pytest.raises(IntegrityError):
        db.session.add(Site(community_id=999_999, name="孤儿点位", kind="other"))
        db.session.flush()
    db.session.rollback()
    if db.engine.dialect.name == "sqlite":
        assert db.session.execute(text("PRAGMA foreign_keys")).scalar() == 1
