"""The dashboard: league table, trend, rectification times, hot spots, inspector activity, markets.

Numbers are worked out by hand from the story in tests/report_day.py."""
from __future__ import annotations

from datetime import date

import pytest

from tests.report_day import NOW, build_day
from webapp.extensions import db
from webapp.services import activity
from webapp.services import dashboard as dash
from webapp.services.reports import FindingFilter, Period

THREE_DAYS = Period(date(2025, 9, 16), date(2025, 9, 18))
ONE_DAY = Period(date(2025, 9, 18), date(2025, 9, 18))
COLUMNS = ("name", "findings", "accepted", "dispatched", "on_time", "overdue_now", "overdue_total", "verified",
           "repeat_sites", "rect_count")


@pytest.fixture
def day(ctx):
    data = build_day()
    db.session.commit()
    return data


def table(rows):
    return [tuple(getattr(r, c) for c in COLUMNS) for r in rows]


def test_league_table_over_three_days(day):
    rows, total = dash.league_table(day.leader, FindingFilter(THREE_DAYS, street_id=day.gulou.id), now=NOW)
    assert table(rows) == [
        ("汇金社区", 8, 6, 5, 2, 2, 3, 1, 1, 3),
        ("香江社区", 4, 4, 4, 1, 0, 1, 1, 0, 2),
        ("公园社区", 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ]
    huijin, xiangjiang, gongyuan = rows
    assert huijin.on_time_rate == pytest.approx(0.40)
    assert huijin.avg_hours == pytest.approx((5 + 2 + 3.25) / 3)
    assert xiangjiang.on_time_rate == pytest.approx(0.25)
    assert xiangjiang.avg_hours == pytest.approx((21.5 + 2) / 2)
    assert gongyuan.on_time_rate is None and gongyuan.avg_hours is None
    assert (total.findings, total.accepted, total.dispatched, total.on_time, total.overdue_now, total.overdue_total,
            total.verified, total.repeat_sites) == (12, 10, 9, 3, 2, 4, 2, 1)
    assert total.on_time_rate == pytest.approx(3 / 9)
    assert total.avg_hours == pytest.approx(6.75)


def test_league_table_for_the_report_day(day):
    rows, _ = dash.league_table(day.desk, FindingFilter(ONE_DAY, street_id=day.gulou.id), now=NOW)
    assert table(rows) == [
        ("汇金社区", 7, 5, 4, 2, 1, 2, 1, 0, 3),
        ("香江社区", 2, 2, 2, 0, 0, 0, 0, 0, 0),
        ("公园社区", 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ]
    assert rows[0].on_time_rate == pytest.approx(0.5) and rows[1].on_time_rate == 0


@pytest.mark.parametrize("sort, descending, order", [
    ("on_time_rate", True, ["汇金社区", "香江社区", "公园社区"]),
    ("on_time_rate", False, ["香江社区", "汇金社区", "公园社区"]),  # no rate: last either way
    ("findings", True, ["汇金社区", "香江社区", "公园社区"]),
    ("findings", False, ["公园社区", "香江社区", "汇金社区"]),
    ("avg_hours", True, ["香江社区", "汇金社区", "公园社区"]),
    ("name", False, ["公园社区", "汇金社区", "香江社区"]),
    ("overdue_now", True, ["汇金社区", "公园社区", "香江社区"]),  # ties keep name order
])
def test_league_sorting(day, sort, descending, order):
    rows, _ = dash.league_table(day.leader, FindingFilter(THREE_DAYS, street_id=day.gulou.id), sort=sort,
                                descending=descending, now=NOW)
    assert [r.name for r in rows] == order


def test_league_scope(day):
    desk_rows, _ = dash.league_table(day.desk, FindingFilter(ONE_DAY), now=NOW)
    leader_rows, _ = dash.league_table(day.leader, FindingFilter(ONE_DAY), now=NOW)
    assert sorted(r.name for r in desk_rows) == sorted(["汇金社区", "香江社区", "公园社区", "文苑社区"])
    assert sorted(r.name for r in leader_rows) == sorted(["汇金社区", "香江社区", "公园社区"])


def test_trend_by_family(day):
    trend = dash.trend(day.desk, FindingFilter(THREE_DAYS, street_id=day.gulou.id))
    assert trend.days == [date(2025, 9, 16), date(2025, 9, 17), date(2025, 9, 18)]
    assert trend.families == ["environment", "street_order", "publicity", "market"]
    assert trend.counts == {"environment": [1, 2, 4], "street_order": [0, 0, 1], "publicity": [0, 0, 1],
                            "market": [0, 0, 2]}
    assert trend.day_totals() == [1, 2, 8]


def test_trend_day_boundaries_are_local_midnight(day):
    from tests.factories import make_finding
    from tests.report_day import at

    # 23:59 local on the 16th is 15:59 UTC; 00:00 on the 17th is 16:00 UTC on the 16th.
    make_finding(day.inspector, day.gongyuan, category_code="pests", captured_at=at(16, 23, 59), status="accepted")
    make_finding(day.inspector, day.gongyuan, category_code="pests", captured_at=at(17, 0, 0), status="accepted")
    db.session.commit()
    trend = dash.trend(day.desk, FindingFilter(THREE_DAYS, community_id=day.gongyuan.id))
    assert trend.counts == {"pests": [1, 1, 0]}


def test_rectification_time_distribution(day):
    assert dash.rectify_distribution(day.desk, FindingFilter(THREE_DAYS, street_id=day.gulou.id)) == [
        ("0-2h", 2), ("2-4h", 1), ("4-8h", 1), ("8-24h", 1), ("1-3d", 0), ("3d+", 0),
    ]


def test_hot_spots(day):
    spots = dash.hot_spots(day.desk, FindingFilter(THREE_DAYS, street_id=day.gulou.id))
    assert [(s.site_name, s.count, s.open) for s in spots] == [
        ("王口新村", 3, 1), ("湖西早市", 2, 2), ("硫酸厂家属院", 2, 0),
        ("运河路西沿儿蓬莱野生海鲜馆", 1, 1), ("管道局家属院", 1, 1), ("新村路口", 1, 0),
    ]


def test_inspector_activity_and_coverage(day):
    days, rows = activity.inspector_activity(day.leader, FindingFilter(THREE_DAYS, street_id=day.gulou.id))
    assert days == [date(2025, 9, 16), date(2025, 9, 17), date(2025, 9, 18)]
    assert [(r.name, r.records, r.ok, r.problems, r.active_days, r.per_day, r.sites_covered, r.sites_total)
            for r in rows] == [
        ("xuncha1", 11, 3, 8, 2, [1, 0, 10], 5, 8),
        ("xuncha2", 7, 3, 4, 2, [0, 2, 5], 2, 8),
        ("xuncha3", 0, 0, 0, 0, [0, 0, 0], 0, 8),  # posted to the street, recorded nothing
    ]
    assert rows[0].coverage == pytest.approx(5 / 8) and rows[1].ok_ratio == pytest.approx(3 / 7)
    assert rows[2].ok_ratio is None


def test_market_view_by_zone_and_category(day):
    markets = activity.market_view(day.desk, FindingFilter(THREE_DAYS, street_id=day.gulou.id))
    assert [(m.name, m.weeks, m.rows) for m in markets] == [
        ("湖西早市", [date(2025, 9, 16)], [("果蔬区", "市场分区不规范", [1], 1), ("活禽区", "活禽/屠宰区未密闭", [1], 1)]),
    ]


def test_market_view_weekly_columns(day):
    period = Period(date(2025, 9, 5), date(2025, 9, 18))
    markets = activity.market_view(day.desk, FindingFilter(period, street_id=day.gulou.id))
    assert markets[0].weeks == [date(2025, 9, 5), date(2025, 9, 12)]
    assert markets[0].rows == [("果蔬区", "市场分区不规范", [0, 1], 1), ("活禽区", "活禽/屠宰区未密闭", [0, 1], 1)]


# --- pages -----------------------------------------------------------------------------------

def test_dashboard_page(day, auth, client):
    auth.login("lingdao")
    response = client.get(f"/reports/?from=2025-09-16&to=2025-09-18&street={day.gulou.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    league = html[html.index('class="league-table"'):]
    assert league.index("汇金社区") < league.index("香江社区") < league.index("公园社区")
    assert "40.0%" in html and "25.0%" in html and "33.3%" in html
    assert html.count("<svg") == 2 and 'class="fam fam-environment"' in html
    assert "sort=findings" in html and "/reports/league.xlsx" in html and "/reports/findings.csv" in html
    assert f"/reports/sites/{day.findings['wood'].site_id}" in html
    assert "文苑社区" not in html
    assert " style=" not in html and "<script>" not in html


def test_dashboard_sort_by_header_link(day, auth, client):
    auth.login("neiqin")
    html = client.get(f"/reports/?from=2025-09-16&to=2025-09-18&street={day.gulou.id}&sort=name&dir=desc")\
        .get_data(as_text=True)
    league = html[html.index('class="league-table"'):]
    assert league.index("香江社区") < league.index("汇金社区") < league.index("公园社区")
    assert 'aria-sort="descending"' in html


@pytest.mark.parametrize("query, status", [
    ("from=2025-02-30", 400), ("days=45", 400), ("sort=password", 400), ("dir=up", 400),
    ("from=2025-09-18&to=2025-09-01", 400), ("from=2024-01-01&to=2025-09-18", 400), ("status=lost", 400),
    ("category=999999", 400), ("community=999999", 404), ("street=999999", 404),
])
def test_dashboard_bad_input(day, auth, client, query, status):
    auth.login("neiqin")
    response = client.get(f"/reports/?{query}")
    assert response.status_code == status
    assert "无法生成报表" in response.get_data(as_text=True)


def test_dashboard_out_of_scope_street_and_roles(day, auth, client):
    auth.login("lingdao")
    assert client.get(f"/reports/?street={day.liuyuan.id}").status_code == 404
    assert client.get(f"/reports/?community={day.wenyuan.id}").status_code == 404
    auth.logout()
    auth.login("xuncha1")
    assert client.get("/reports/").status_code == 403


def test_other_pages_render(day, auth, client):
    auth.login("lingdao")
    q = f"from=2025-09-16&to=2025-09-18&street={day.gulou.id}"
    inspectors = client.get(f"/reports/inspectors?{q}").get_data(as_text=True)
    assert "xuncha3" in inspectors and "5/8" in inspectors
    markets = client.get(f"/reports/markets?{q}").get_data(as_text=True)
    assert "湖西早市" in markets and "活禽区" in markets
    site = client.get(f"/reports/sites/{day.findings['wood'].site_id}?{q}")
    html = site.get_data(as_text=True)
    assert site.status_code == 200
    assert "楼道口垃圾未清运" in html and "新出现一堆烂木材需要清理" in html and "共 4 条记录" in html


def test_site_page_scope(day, auth, client):
    auth.login("lingdao")
    school = day.findings["other_street"].site_id
    assert client.get(f"/reports/sites/{school}?from=2025-09-18&to=2025-09-18").status_code == 404
    assert client.get("/reports/sites/999999").status_code == 404
