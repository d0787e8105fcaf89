"""The dashboard's rollup follows the findings: new rows, changed rows, moved rows; it is throttled;
and it is only shown for communities the user sees whole."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_finding, make_user
from tests.report_day import NOW, at, build_day
from webapp.extensions import db
from webapp.models import Community
from webapp.models.reporting import ReportDaily
from webapp.scope import whole_community_filter
from webapp.services import dashboard as dash
from webapp.services import rollup
from webapp.services.reports import FindingFilter, Period

ONE_DAY = Period(date(2025, 9, 18), date(2025, 9, 18))


@pytest.fixture
def day(ctx):
    data = build_day()
    db.session.commit()
    return data


def huijin(day):
    rows, _ = dash.league_table(day.desk, FindingFilter(ONE_DAY, community_id=day.huijin.id), now=NOW)
    (row,) = rows
    return row.findings, row.accepted, row.dispatched, row.on_time, row.verified


def test_changes_reach_the_dashboard_after_a_refresh(day):
    assert huijin(day) == (7, 5, 4, 2, 1)

    # The desk accepts the pending finding and dispatches it; the seafood restaurant clears up in time.
    pending, seafood = day.findings["pending"], day.findings["seafood"]
    pending.status, pending.dispatched_at = "dispatched", at(18, 11, 30)
    seafood.status, seafood.rectified_at = "rectified", at(18, 17, 0)
    make_finding(day.inspector, day.huijin, category_code="litter", captured_at=at(18, 20, 0), status="accepted")
    db.session.commit()

    # Within max_age the dashboard answers from the rollup as it was …
    assert huijin(day) == (7, 5, 4, 2, 1)
    # … and after a refresh it has all three changes.
    assert rollup.refresh(max_age=timedelta(0)) >= 1
    assert huijin(day) == (8, 7, 5, 3, 1)


def test_a_finding_moved_to_another_community_is_counted_once_in_its_new_place(day):
    def problems(community):
        rows, _ = dash.league_table(day.desk, FindingFilter(ONE_DAY, community_id=community.id), now=NOW)
        return rows[0].findings

    assert (problems(day.huijin), problems(day.gongyuan)) == (7, 0)
    day.findings["leaves"].community_id = day.gongyuan.id
    db.session.commit()
    rollup.refresh(max_age=timedelta(0))
    assert (problems(day.huijin), problems(day.gongyuan)) == (6, 1)


def rollup_rows() -> list[tuple]:
    rows = db.session.execute(
        select(ReportDaily.day, ReportDaily.community_id, ReportDaily.site_id, ReportDaily.category_id,
               ReportDaily.problems, ReportDaily.valid_open, ReportDaily.rect_count, ReportDaily.rect_b3))
    return sorted((tuple(-1 if v is None else v for v in r) for r in rows))


def test_rollup_rows_match_a_rebuild_from_scratch(day):
    rollup.refresh(max_age=timedelta(0))
    day.findings["zoning"].status = "rectified"
    day.findings["zoning"].rectified_at = at(18, 23, 0)
    db.session.commit()
    rollup.refresh(max_age=timedelta(0))
    incremental = rollup_rows()
    db.session.execute(ReportDaily.__table__.delete())
    db.session.execute(rollup.ReportRollupState.__table__.delete())
    db.session.commit()
    rollup.refresh(max_age=timedelta(0))
    rebuilt = rollup_rows()
    assert incremental == rebuilt
    assert (date(2025, 9, 18).toordinal(), day.xiangjiang.id, day.findings["zoning"].site_id,
            day.findings["zoning"].category_id, 1, 0, 1, 1) in rebuilt  # 09:00 → 23:00 is 14 h: the 8–24 h bucket


def test_refresh_is_throttled(day):
    assert rollup.refresh(max_age=timedelta(0)) == 3  # 16th, 17th and 18th September
    assert rollup.refresh(max_age=timedelta(minutes=5)) == 0
    assert db.session.scalar(select(func.count()).select_from(ReportDaily)) > 0


def test_whole_community_scope(day):
    def visible(user):
        return set(db.session.scalars(select(Community.name).where(whole_community_filter(user))))

    everything = {"汇金社区", "香江社区", "公园社区", "文苑社区"}
    assert visible(day.desk) == everything
    assert visible(day.leader) == {"汇金社区", "香江社区", "公园社区"}
    assert visible(day.inspector) == set()  # their own findings, never a whole community
    staff = make_user("shequ", roles=("community",), communities=[day.wenyuan])
    manager = make_user("shichang", roles=("manager", "leader"), sites=[day.findings["poultry"].site],
                        streets=[day.liuyuan])
    assert visible(staff) == {"文苑社区"}
    assert visible(manager) == {"文苑社区"}  # the market does not make 香江社区 whole


def test_leader_and_inspector_sees_only_their_streets_on_the_dashboard(day):
    both = make_user("both", roles=("leader", "inspector"), streets=[day.liuyuan])
    make_finding(both, day.huijin, category_code="litter", captured_at=at(18, 12, 0), status="accepted")
    db.session.commit()
    rows, total = dash.league_table(both, FindingFilter(ONE_DAY), now=NOW)
    assert [(r.name, r.findings) for r in rows] == [("文苑社区", 1)]
    assert total.findings == 1


def test_report_rollup_command_rebuilds(app, day):
    rollup.refresh(max_age=timedelta(0))
    db.session.execute(ReportDaily.__table__.update().values(problems=999))  # a damaged rollup
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["report-rollup", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert "3 day(s) recomputed" in result.output
    assert huijin(day) == (7, 5, 4, 2, 1)


def test_patrol_and_market_rollups_follow_new_records(day):
    from webapp.services import activity

    flt = FindingFilter(ONE_DAY, street_id=day.gulou.id)
    _days, rows = activity.inspector_activity(day.desk, flt)
    assert {r.name: (r.records, r.ok) for r in rows}["xuncha3"] == (0, 0)
    market = day.findings["poultry"].site
    make_finding(day.idle_inspector, day.xiangjiang, kind="ok", site=market, captured_at=at(18, 17, 0))
    make_finding(day.idle_inspector, day.xiangjiang, site=market, zone=market.zones[1], category_code="pests",
                 captured_at=at(18, 17, 5), status="accepted")
    db.session.commit()
    rollup.refresh(max_age=timedelta(0))
    _days, rows = activity.inspector_activity(day.desk, flt)
    assert {r.name: (r.records, r.ok, r.sites_covered) for r in rows}["xuncha3"] == (2, 1, 1)
    (table,) = activity.market_view(day.desk, flt)
    assert ("水产品区", "病媒生物(蚊蝇鼠)", [1], 1) in table.rows
