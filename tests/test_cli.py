"""The command line: seed-demo (idempotent, demo mode only), import-places (all or nothing), users."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import make_community, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import Community, Event, Finding, Photo, Site, Status, Street, User, Zone
from webapp.services.demo import DEMO_USERS, table_counts
from webapp.services.places import parse_places_csv
from webapp.storage import get_storage


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


# --- seed-demo ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_seed_demo_twice_gives_the_same_rows_with_every_state(app, runner, ctx):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    counts = table_counts()
    # Through the storage interface, so the check holds with STORAGE=s3 too.
    photo_files = sorted(get_storage(app).keys())

    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert table_counts() == counts
    assert sorted(get_storage(app).keys()) == photo_files
    assert "findings 0, photos 0, actions 0" in second.output  # nothing new the second time

    assert counts["streets"] == 3 and counts["users"] == len(DEMO_USERS)
    statuses = set(db.session.scalars(select(Finding.status).distinct()))
    assert statuses == {s.value for s in Status}  # the history shows every state
    assert _count(Finding) >= 50 and photo_files
    # Some were fixed late or not at all: the overdue mark is there too.
    assert db.session.scalar(select(func.count(Finding.id)).where(Finding.overdue_at.is_not(None))) > 0
    # Rectified and verified findings carry an after photo uploaded by the responsible party.
    for finding in db.session.scalars(select(Finding).where(Finding.status.in_(["rectified", "verified"]))):
        after = [p for p in finding.photos if p.kind == "after"]
        assert after and all(p.uploader.has_role("community", "manager") for p in after)
    # The trail reads in time order, creation first.
    for finding in db.session.scalars(select(Finding).limit(30)):
        times = [e.at for e in finding.events]
        assert times == sorted(times) and finding.events[0].type == "created"
    # Two weeks of history, no future.
    first_day, last_day = db.session.execute(select(func.min(Finding.captured_at), func.max(Finding.captured_at))).one()
    assert 12 <= (last_day - first_day).days <= 14


def test_seed_demo_without_history_and_demo_accounts(runner, ctx):
    result = runner.invoke(args=["seed-demo", "--no-history"])
    assert result.exit_code == 0, result.output
    users = {u.username: u for u in db.session.scalars(select(User))}
    assert set(users) == {"inspector", "inspector2", "desk", "manager", "community", "leader", "admin"}
    for username, user in users.items():
        assert user.roles == {username.rstrip("2")}
        assert user.check_password("demo12345")
    assert [s.name for s in users["manager"].sites] == ["湖西早市"]
    assert {c.name for c in users["community"].communities} == {"汇金社区", "（示例）王口社区"}
    assert [s.name for s in users["leader"].streets] == ["古楼街道"]
    # Display names are roles with a number, never a person's name from the seed page.
    assert users["inspector"].display_name == "督导员一"

    market = db.session.scalar(select(Site).where(Site.name == "湖西早市"))
    assert market.kind == "market"
    assert [z.name for z in market.zones] == ["果蔬区", "水产品区", "活禽区", "花草区", "小商品区"]
    assert {s.name for s in db.session.scalars(select(Street))} == {"古楼街道", "柳园街道", "新区街道"}
    invented = [c.name for c in db.session.scalars(select(Community)) if c.name not in
                ("文苑社区", "公园社区", "汇金社区", "香江社区")]
    assert invented and all(name.startswith("（示例）") for name in invented)
    for site in db.session.scalars(select(Site)):
        assert 36.3 < site.latitude < 36.6 and 115.8 < site.longitude < 116.1  # around Liaocheng
    assert _count(Finding) == 0


def test_seed_demo_is_refused_without_demo_mode(app, runner, ctx, monkeypatch):
    monkeypatch.setitem(app.config, "DEMO_MODE", False)
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert "DEMO_MODE is off" in result.output
    assert _count(User) == 0 and _count(Street) == 0

    # `make run` calls it with --if-empty: there it only says why it does nothing.
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "DEMO_MODE is off" in result.output
    assert _count(User) == 0


def test_seed_demo_if_empty_leaves_a_used_database_alone(runner, ctx):
    make_user("someone")
    db.session.commit()
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "not seeding" in result.output
    assert _count(User) == 1 and _count(Street) == 0


def test_production_config_turns_demo_mode_off():
    from webapp.config import ProductionConfig, TestConfig

    assert ProductionConfig.DEMO_MODE is False
    assert TestConfig.DEMO_MODE is True


# --- import-places --------------------------------------------------------------------------------

GOOD = """street,community,site,kind,lat,lon,address
古楼街道,汇金社区,运河路西沿儿商户,门店,36.4452,115.9791,运河路西侧
古楼街道,（示例）湖西社区,湖西早市,market,36.4489,115.9712,
新区街道,（示例）西姚社区,西姚新村,小区,,,
"""


def _write(tmp_path, text: str, encoding: str = "utf-8") -> str:
    path = tmp_path / "places.csv"
    path.write_bytes(text.encode(encoding))
    return str(path)


def test_import_places_creates_and_then_reuses(runner, ctx, tmp_path):
    result = runner.invoke(args=["import-places", _write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert (_count(Street), _count(Community), _count(Site)) == (2, 3, 3)
    site = db.session.scalar(select(Site).where(Site.name == "运河路西沿儿商户"))
    assert (site.kind, site.latitude, site.longitude, site.address) == ("shop_frontage", 36.4452, 115.9791,
                                                                        "运河路西侧")
    assert db.session.scalar(select(Site.latitude).where(Site.name == "西姚新村")) is None

    again = runner.invoke(args=["import-places", _write(tmp_path, GOOD)])
    assert again.exit_code == 0, again.output
    assert (_count(Street), _count(Community), _count(Site)) == (2, 3, 3)
    assert "unchanged sites 3" in again.output


def test_import_places_reuses_places_made_elsewhere(runner, ctx, tmp_path):
    street = make_street("古楼街道")
    community = make_community(street, "汇金社区")
    make_site(community, "运河路西沿儿商户", kind="other")
    db.session.commit()
    result = runner.invoke(args=["import-places", _write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert _count(Street) == 2 and _count(Community) == 3 and _count(Site) == 3
    db.session.expire_all()
    assert db.session.scalar(select(Site.kind).where(Site.name == "运河路西沿儿商户")) == "shop_frontage"


def test_import_places_with_a_bad_row_imports_nothing(runner, ctx, tmp_path):
    bad = GOOD + "古楼街道,香江社区,硫酸厂家属院,foo,36.44,115.99,\n柳园街道,文苑社区,聊城二中家属院,小区,north,115.97,\n"
    result = runner.invoke(args=["import-places", _write(tmp_path, bad)])
    assert result.exit_code == 1
    assert "第5行: 未知类型 'foo'" in result.output
    assert "第6行: 纬度无效 'north'" in result.output
    assert "nothing imported" in result.output
    assert (_count(Street), _count(Community), _count(Site)) == (0, 0, 0)  # not even the good rows


def test_import_places_reads_gb18030_files_from_office_pcs(runner, ctx, tmp_path):
    result = runner.invoke(args=["import-places", _write(tmp_path, GOOD, encoding="gb18030")])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(Site.name).where(Site.kind == "market")) == "湖西早市"


@pytest.mark.parametrize("text,expected", [
    ("", "文件为空"),
    ("street,community,site\n", "第1行: 表头缺少列 kind, lat, lon"),
    ("street,community,site,kind,lat,lon\n", "文件中没有点位"),
    ("street,community,site,kind,lat,lon\n古楼街道,,王口新村,小区,36.4,115.9\n", "第2行: 缺少社区"),
    ("street,community,site,kind,lat,lon\n古楼街道,汇金社区,王口新村,小区,96,115.9\n", "第2行: 纬度无效 '96'"),
    ("street,community,site,kind,lat,lon\n古楼街道,汇金社区,王口新村,小区,36.4,\n", "第2行: 纬度和经度须同时填写"),
    ("street,community,site,kind,lat,lon\n古楼街道,汇金社区,王口新村,小区,36.4,nan\n", "第2行: 经度无效 'nan'"),
    ("street,community,site,kind,lat,lon\n古楼街道,汇金社区,王口新村,小区,,\n\n古楼街道,汇金社区,王口新村,小区,,\n",
     "第4行: 与第2行重复"),
])
def test_parse_places_csv_errors(text, expected):
    rows, errors = parse_places_csv(text)
    assert any(expected in str(e) for e in errors), [str(e) for e in errors]


def test_parse_places_csv_accepts_chinese_headers_and_kinds():
    rows, errors = parse_places_csv("\ufeff街道,社区,点位,类型,纬度,经度,地址\n古楼街道,汇金社区,湖西早市,早市,36.45,115.97,湖西\n")
    assert errors == []
    assert [(r.line, r.site, r.kind, r.lat, r.address) for r in rows] == [(2, "湖西早市", "market", 36.45, "湖西")]


# --- users ----------------------------------------------------------------------------------------

def test_create_user_with_scope(runner, ctx):
    community = make_community(name="汇金社区")
    db.session.commit()
    result = runner.invoke(args=["create-user", "wang", "--name", "社区工作人员二", "--role", "community",
                                 "--community", "汇金社区", "--password", "long-enough-1"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "wang"))
    assert user.roles == {"community"} and user.communities == [community]
    assert user.check_password("long-enough-1")

    for args, message in (
        (["create-user", "wang", "--role", "inspector", "--password", "long-enough-1"], "already exists"),
        (["create-user", "li", "--role", "inspector", "--password", "short"], "at least 8"),
        (["create-user", "li", "--role", "leader", "--password", "long-enough-1"], "needs at least one --street"),
        (["create-user", "li", "--role", "community", "--community", "无此社区", "--password", "long-enough-1"],
         "no community"),
    ):
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert _count(User) == 1
