"""The daily supervision report (督导通报): chat text, HTML page, XLSX, errors and scope.

Expectations are written by hand from the story in tests/report_day.py, not computed by the code."""
from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from tests.report_day import NOW, at, build_day
from webapp.extensions import db
from webapp.models import Photo
from webapp.services.daily_report import build_daily_report
from webapp.services.daily_report_text import chat_parts
from webapp.services.daily_report_xlsx import daily_report_xlsx
from webapp.services.reports import problem_phrase

DAY = date(2025, 9, 18)

SITE_LINES = """古楼街道卫生督导通报（2025年9月18日）
检查点位7处，卫生尚可2处，发现问题7条。另有1条待审核，未列入。

汇金社区：
运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品；
王口新村：乱堆乱放（新出现一堆烂木材需要清理），个别楼下有散落垃圾；
中通时代豪园二期：卫生尚可；
管道局家属院：落叶较多；
乱贴乱画（运河路电线杆上有小广告）。

香江社区：
湖西早市：活禽/屠宰区未密闭，市场分区不规范（果蔬摊位摆到通道上）；
硫酸厂家属院：卫生尚可；
香江路沿街：卫生尚可。
"""

STATUS_AT_2130 = """
整改情况（截至9月18日 21:30）：
当日问题7条，已整改3条（其中逾期整改1条），未整改4条（其中已超期1条）。
已整改：
汇金社区 王口新村：乱堆乱放（新出现一堆烂木材需要清理）；
汇金社区 王口新村：个别楼下有散落垃圾；
汇金社区：乱贴乱画（运河路电线杆上有小广告）（逾期整改）。
未整改：
汇金社区 运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品（已超期）；
汇金社区 管道局家属院：落叶较多；
香江社区 湖西早市：活禽/屠宰区未密闭；
香江社区 湖西早市：市场分区不规范（果蔬摊位摆到通道上）。
往日超期未整改1条：
汇金社区 王口新村：散落垃圾（楼道口垃圾未清运）（9月16日发现，期限9月17日 00:00）。
往日问题今日整改1条：
香江社区 硫酸厂家属院：垃圾箱满溢/异味（9月17日发现）。"""


@pytest.fixture
def day(ctx):
    data = build_day()
    db.session.commit()
    return data


def test_chat_text_in_the_seed_style(day):
    report = build_daily_report(day.desk, DAY, day.gulou.id, now=NOW)
    assert chat_parts(report) == [SITE_LINES + STATUS_AT_2130]


def test_same_day_gives_same_site_lines_tomorrow_only_status_moves(day):
    tonight = chat_parts(build_daily_report(day.desk, DAY, day.gulou.id, now=NOW))[0]
    # Overnight the seafood restaurant clears its frontage (late: its deadline was 18:00).
    seafood = day.findings["seafood"]
    seafood.status, seafood.rectified_at, seafood.overdue_at = "rectified", at(19, 7, 30), at(18, 18, 0)
    db.session.commit()
    tomorrow = chat_parts(build_daily_report(day.desk, DAY, day.gulou.id, now=NOW + timedelta(hours=12)))[0]
    assert tonight.startswith(SITE_LINES) and tomorrow.startswith(SITE_LINES)
    assert tomorrow[len(SITE_LINES):] == """
整改情况（截至9月19日 09:30）：
当日问题7条，已整改4条（其中逾期整改2条），未整改3条（其中已超期2条）。
已整改：
汇金社区 运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品（逾期整改）；
汇金社区 王口新村：乱堆乱放（新出现一堆烂木材需要清理）；
汇金社区 王口新村：个别楼下有散落垃圾；
汇金社区：乱贴乱画（运河路电线杆上有小广告）（逾期整改）。
未整改：
汇金社区 管道局家属院：落叶较多；
香江社区 湖西早市：活禽/屠宰区未密闭（已超期）；
香江社区 湖西早市：市场分区不规范（果蔬摊位摆到通道上）（已超期）。
往日超期未整改1条：
汇金社区 王口新村：散落垃圾（楼道口垃圾未清运）（9月16日发现，期限9月17日 00:00）。
往日问题今日整改1条：
香江社区 硫酸厂家属院：垃圾箱满溢/异味（9月17日发现）。"""


def test_all_streets_for_the_desk_lists_each_street(day):
    text = chat_parts(build_daily_report(day.desk, DAY, None, now=NOW), limit=10_000)[0]
    assert text.startswith("卫生督导通报（2025年9月18日）\n检查点位8处，卫生尚可2处，发现问题8条。")
    assert "\n【古楼街道】\n汇金社区：\n运河路西沿儿" in text
    assert "\n\n【柳园街道】\n文苑社区：\n聊城二中家属院：散落垃圾（操场边有垃圾）。\n" in text


def test_all_streets_for_a_leader_is_only_their_street(day):
    text = chat_parts(build_daily_report(day.leader, DAY, None, now=NOW), limit=10_000)[0]
    assert "文苑社区" not in text and "柳园街道" not in text
    assert "检查点位7处，卫生尚可2处，发现问题7条。" in text


def test_a_day_without_records(day):
    report = build_daily_report(day.desk, date(2025, 9, 20), day.gulou.id, now=NOW)
    assert chat_parts(report)[0].startswith(
        "古楼街道卫生督导通报（2025年9月20日）\n检查点位0处，卫生尚可0处，发现问题0条。\n当日没有检查记录。\n"
    )


@pytest.mark.parametrize("category, note, expected", [
    ("店外摆放/占道经营", "店外摆放酒箱、桌椅等物品", "店外摆放酒箱、桌椅等物品"),
    ("乱堆乱放", "新出现一堆烂木材需要清理", "乱堆乱放（新出现一堆烂木材需要清理）"),
    ("落叶/积水", "落叶较多", "落叶较多"),
    ("病媒生物(蚊蝇鼠)", "垃圾房有苍蝇", "病媒生物(蚊蝇鼠)（垃圾房有苍蝇）"),
    ("病媒生物(蚊蝇鼠)", "发现病媒生物", "发现病媒生物"),
    ("散落垃圾", "  个别楼下有散落垃圾；", "个别楼下有散落垃圾"),
    ("垃圾箱满溢/异味", "", "垃圾箱满溢/异味"),
    (None, "路边有旧沙发", "路边有旧沙发"),
    (None, "", "其他问题"),
])
def test_problem_in_plain_words(app, category, note, expected):
    with app.test_request_context():
        assert problem_phrase(category, note) == expected


def test_repeated_problem_at_one_site_is_counted_not_repeated(day):
    from tests.factories import make_finding

    site = day.findings["wood"].site
    for minute in (50, 55):
        make_finding(day.inspector, day.huijin, site=site, category_code="litter", captured_at=at(18, 9, minute),
                     note="个别楼下有散落垃圾", status="accepted")
    db.session.commit()
    text = chat_parts(build_daily_report(day.desk, DAY, day.gulou.id, now=NOW))[0]
    assert "王口新村：乱堆乱放（新出现一堆烂木材需要清理），个别楼下有散落垃圾×3；\n" in text


# --- XLSX -----------------------------------------------------------------------------------

def test_xlsx_summary_and_one_row_per_finding(day):
    report = build_daily_report(day.desk, DAY, day.gulou.id, now=NOW)
    book = load_workbook(io.BytesIO(daily_report_xlsx(day.desk, report)))
    assert book.sheetnames == ["汇总", "明细", "往日超期未整改"]

    summary = [list(r) for r in book["汇总"].iter_rows(values_only=True)]
    assert summary[0][0] == "古楼街道卫生督导通报（2025年9月18日）"
    assert summary[1][0] == "生成时间：9月18日 21:30（整改情况截至此时）"
    assert summary[3] == ["街道", "社区", "检查点位", "卫生尚可", "问题（已立案）", "已整改", "逾期整改", "未整改",
                          "已超期", "待审核"]
    assert summary[4] == ["古楼街道", "汇金社区", 5, 1, 5, 3, 1, 2, 1, 1]
    assert summary[5] == ["古楼街道", "香江社区", 2, 1, 2, 0, 0, 2, 0, 0]
    assert summary[6] == ["合计", None, 7, 2, 7, 3, 1, 4, 1, 1]
    assert len(summary) == 7

    rows = [list(r) for r in book["明细"].iter_rows(values_only=True)]
    assert rows[0] == ["编号", "发现时间", "街道", "社区", "点位", "分区", "记录类型", "问题类别", "问题描述", "备注",
                       "状态", "督导员", "整改期限", "派遣时间", "整改时间", "核查时间", "超期"]
    assert len(rows) == 1 + 15  # every record of the day in 古楼街道, the rejected and pending ones too
    f = day.findings
    assert rows[1] == [f["poultry"].uuid, datetime(2025, 9, 18, 8, 30), "古楼街道", "香江社区", "湖西早市", "活禽区",
                       "问题", "活禽/屠宰区未密闭", "活禽/屠宰区未密闭", None, "已派遣", "xuncha2",
                       datetime(2025, 9, 19, 0, 0), datetime(2025, 9, 18, 9, 0), None, None, "否"]
    assert rows[3] == [f["seafood"].uuid, datetime(2025, 9, 18, 9, 5), "古楼街道", "汇金社区", "运河路西沿儿蓬莱野生海鲜馆",
                       None, "问题", "店外摆放/占道经营", "店外摆放酒箱、桌椅等物品", "店外摆放酒箱、桌椅等物品", "已派遣",
                       "xuncha1", datetime(2025, 9, 18, 18, 0), datetime(2025, 9, 18, 9, 30), None, None, "是"]
    assert rows[4][:12] == [f["wangkou_ok"].uuid, datetime(2025, 9, 18, 9, 20), "古楼街道", "汇金社区", "王口新村",
                            None, "卫生尚可", None, "卫生尚可", None, "卫生尚可", "xuncha1"]
    assert rows[6][10:] == ["已核查", "xuncha1", datetime(2025, 9, 19, 0, 0), datetime(2025, 9, 18, 10, 0),
                            datetime(2025, 9, 18, 12, 0), datetime(2025, 9, 18, 16, 0), "否"]
    assert [r[10] for r in rows[1:]] == ["已派遣", "已签收", "已派遣", "卫生尚可", "已整改", "已核查", "卫生尚可", "已驳回",
                                         "卫生尚可", "已立案", "已整改", "待审核", "卫生尚可", "卫生尚可", "卫生尚可"]
    assert book["明细"]["B2"].number_format == "yyyy-mm-dd hh:mm"

    earlier = [list(r) for r in book["往日超期未整改"].iter_rows(values_only=True)]
    assert earlier == [["编号", "发现时间", "地点", "问题描述", "状态", "整改期限"],
                       [f["old_overdue"].uuid, datetime(2025, 9, 16, 9, 0), "汇金社区 王口新村", "散落垃圾（楼道口垃圾未清运）",
                        "已派遣", datetime(2025, 9, 17, 0, 0)]]


# --- HTTP ------------------------------------------------------------------------------------

def test_text_format_over_http(day, auth, client):
    auth.login("neiqin")
    response = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=text")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    # The status part is "as of now" (long after the day); the site lines are fixed.
    assert response.get_data(as_text=True).startswith(SITE_LINES + "\n整改情况（截至")


def test_text_format_parts_and_part_selection(day, auth, client, app):
    auth.login("neiqin")
    app.config["REPORT_CHAT_MAX_CHARS"] = 200
    try:
        whole = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=text")
        second = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=text&part=2")
        beyond = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=text&part=9")
    finally:
        del app.config["REPORT_CHAT_MAX_CHARS"]
    parts = whole.get_data(as_text=True).rstrip("\n").split("\n\n古楼街道卫生督导通报")
    total = len(parts)
    assert total >= 3 and whole.headers["X-Report-Parts"] == str(total)
    assert all(len(p) <= 200 for p in whole.get_data(as_text=True).split("\n\n古楼街道"))
    assert second.get_data(as_text=True).startswith(f"古楼街道卫生督导通报（2025年9月18日）（2/{total}）\n香江社区：\n")
    assert beyond.status_code == 400 and f"共 {total} 段" in beyond.get_data(as_text=True)


def test_html_page_has_copy_buttons_text_and_print_report(day, auth, client):
    from tests.factories import make_finding

    def add_photo(n: int, finding: str, kind: str, position: int) -> Photo:
        photo = Photo(uuid=f"5f0c6b1e-0000-4000-8000-00000000000{n}", uploader_id=day.inspector.id,
                      finding_id=day.findings[finding].id, kind=kind, position=position,
                      received_sha256="a" * 64, sha256=f"{n}" * 64, content_type="image/jpeg", byte_size=1,
                      width=1, height=1)
        db.session.add(photo)
        return photo

    # The seafood restaurant's first before-photo is its thumbnail; its second and an after-photo are not.
    photo, second, after = add_photo(1, "seafood", "before", 0), add_photo(2, "seafood", "before", 1), \
        add_photo(3, "seafood", "after", 0)
    photo.view_sha256, photo.thumb_sha256 = "c" * 64, "d" * 64  # the URL is versioned by the thumbnail
    make_finding(day.inspector, day.gongyuan, category_code="litter", captured_at=at(18, 12, 0),
                 note='<b>"垃圾"</b> & 杂物', status="accepted")
    db.session.commit()
    auth.login("lingdao")
    response = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-copy="chat-part-1"' in html and 'id="chat-part-1"' in html
    assert "运河路西沿儿蓬莱野生海鲜馆：店外摆放酒箱、桌椅等物品；" in html
    assert html.count(f"/api/v1/photos/{photo.uuid}/thumb") == 1
    assert f'src="/api/v1/photos/{photo.uuid}/thumb?v={"d" * 16}"' in html
    assert f"/api/v1/photos/{second.uuid}/" not in html and f"/api/v1/photos/{after.uuid}/" not in html
    # Each problem's status links to its page; late ones are marked (still open: 超期, fixed late: 逾期).
    seafood, poster = day.findings["seafood"], day.findings["poster"]
    assert (f'<span class="report-status is-late"><a href="/review/findings/{seafood.uuid}">已派遣</a>'
            '<span class="late-mark">超期</span></span>') in html
    assert (f'<span class="report-status is-late is-fixed"><a href="/review/findings/{poster.uuid}">已整改</a>'
            '<span class="late-mark">逾期</span></span>') in html
    # What an inspector typed is text on the page, never markup.
    assert "&lt;b&gt;&#34;垃圾&#34;&lt;/b&gt; &amp; 杂物" in html and '<b>"垃圾"</b>' not in html
    assert "pwa/js/report.js" in html and "<script>" not in html and " style=" not in html and " onclick" not in html
    assert "format=xlsx" in html


def test_xlsx_over_http(day, auth, client):
    auth.login("lingdao")
    response = client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book["汇总"]["B5"].value == "汇金社区"


@pytest.mark.parametrize("query, status, words", [
    ("date=2025-13-01", 400, "日期格式不对"),
    ("date=yesterday&format=text", 400, "日期格式不对"),
    ("date=2025-09-18&street=abc", 400, "应为编号"),
    ("date=2025-09-18&format=pdf", 400, "format"),
    ("date=2025-09-18&street=999999", 404, "没有这个街道"),
])
def test_bad_input_is_a_clear_4xx(day, auth, client, query, status, words):
    auth.login("neiqin")
    response = client.get(f"/reports/daily?{query}")
    assert response.status_code == status
    assert words in response.get_data(as_text=True)


def test_street_outside_the_leaders_scope_is_404(day, auth, client):
    auth.login("lingdao")
    assert client.get(f"/reports/daily?date=2025-09-18&street={day.liuyuan.id}").status_code == 404
    assert client.get(f"/reports/daily?date=2025-09-18&street={day.liuyuan.id}&format=text").status_code == 404
    assert client.get(f"/reports/daily?date=2025-09-18&street={day.gulou.id}&format=text").status_code == 200


def test_inspectors_cannot_open_the_report(day, auth, client):
    auth.login("xuncha1")
    assert client.get("/reports/daily?date=2025-09-18").status_code == 403


def test_earlier_overdue_beyond_the_list_limit_is_counted(day, monkeypatch):
    from tests.factories import make_finding
    from webapp.services import daily_report, daily_report_xlsx

    make_finding(day.inspector, day.huijin, site=day.findings["leaves"].site, category_code="litter",
                 captured_at=at(15, 9, 0), note="垃圾桶旁有纸箱", status="dispatched",
                 dispatched_at=at(15, 9, 30), deadline=at(16, 0, 0))
    db.session.commit()
    monkeypatch.setattr(daily_report, "EARLIER_LIMIT", 1)
    monkeypatch.setattr(daily_report_xlsx, "EARLIER_SHEET_LIMIT", 1)
    report = build_daily_report(day.desk, DAY, day.gulou.id, now=NOW)
    text = chat_parts(report)[0]
    # The most overdue (deadline 09-16 00:00) is named; the other is counted.
    assert ("往日超期未整改2条：\n"
            "汇金社区 管道局家属院：散落垃圾（垃圾桶旁有纸箱）（9月15日发现，期限9月16日 00:00）；\n"
            "……另有1条，详见表格。\n往日问题今日整改1条：") in text
    book = load_workbook(io.BytesIO(daily_report_xlsx.daily_report_xlsx(day.desk, report)))
    rows = [list(r) for r in book["往日超期未整改"].iter_rows(values_only=True)]
    assert len(rows) == 3 and rows[1][2] == "汇金社区 管道局家属院"
    assert rows[2][0] == "……另有1条，请用问题清单导出查看全部。"
