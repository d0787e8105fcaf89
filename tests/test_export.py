"""CSV and XLSX exports of filtered finding lists and of the league table (streamed, scoped)."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import load_workbook

from tests.factories import category
from tests.report_day import build_day
from webapp.extensions import db
from webapp.services import exports

Q = "from=2025-09-16&to=2025-09-18"


@pytest.fixture
def day(ctx):
    data = build_day()
    db.session.commit()
    return data


def read_csv(response) -> list[list[str]]:
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf"), "Excel on Chinese Windows needs the BOM to read UTF-8"
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def test_csv_of_a_street_over_three_days(day, auth, client):
    auth.login("lingdao")
    response = client.get(f"/reports/findings.csv?{Q}&street={day.gulou.id}")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == ["编号", "发现时间", "街道", "社区", "点位", "分区", "记录类型", "问题类别", "问题描述", "备注",
                       "状态", "督导员", "整改期限", "派遣时间", "整改时间", "核查时间", "超期"]
    assert len(rows) == 1 + 18  # 15 records on the 18th, 2 on the 17th, 1 on the 16th
    assert rows[1] == [day.findings["old_overdue"].uuid, "2025-09-16 09:00:00", "古楼街道", "汇金社区", "王口新村", "",
                       "问题", "散落垃圾", "散落垃圾（楼道口垃圾未清运）", "楼道口垃圾未清运", "已派遣", "xuncha1",
                       "2025-09-17 00:00:00", "2025-09-16 09:30:00", "", "", "是"]
    assert rows[-1][:11] == [day.findings["street_ok"].uuid, "2025-09-18 16:00:00", "古楼街道", "香江社区", "", "",
                             "卫生尚可", "", "卫生尚可", "香江路沿街", "卫生尚可"]
    assert "文苑社区" not in response.get_data(as_text=True)


@pytest.mark.parametrize("extra, expected", [
    ("status=verified", ["old_paper", "litter"]),
    ("kind=ok", ["wangkou_ok", "zhongtong_ok", "guandao_ok", "liusuan_ok1", "liusuan_ok2", "street_ok"]),
    ("category=LITTER", ["old_overdue", "old_paper", "litter", "zhongtong_rejected", "pending"]),
    ("community=XIANGJIANG", ["old_paper", "old_bin", "poultry", "zoning", "liusuan_ok1", "liusuan_ok2", "street_ok"]),
])
def test_csv_filters(day, auth, client, extra, expected):
    auth.login("neiqin")
    extra = extra.replace("LITTER", str(category("litter").id)).replace("XIANGJIANG", str(day.xiangjiang.id))
    rows = read_csv(client.get(f"/reports/findings.csv?{Q}&street={day.gulou.id}&{extra}"))
    assert [r[0] for r in rows[1:]] == [day.findings[name].uuid for name in expected]


def test_csv_scope(day, auth, client):
    auth.login("neiqin")
    assert "文苑社区" in client.get(f"/reports/findings.csv?{Q}").get_data(as_text=True)
    auth.logout()
    auth.login("lingdao")
    assert "文苑社区" not in client.get(f"/reports/findings.csv?{Q}").get_data(as_text=True)
    refused = client.get(f"/reports/findings.csv?{Q}&street={day.liuyuan.id}")
    assert refused.status_code == 404 and refused.mimetype == "text/plain"
    assert client.get(f"/reports/findings.xlsx?{Q}&street={day.liuyuan.id}").status_code == 404


@pytest.mark.parametrize("url", ["/reports/findings.csv?from=2025-9-1", "/reports/findings.xlsx?to=soon",
                                 "/reports/league.csv?sort=nope", "/reports/findings.csv?status=lost"])
def test_bad_export_parameters_are_400_before_streaming(day, auth, client, url):
    auth.login("neiqin")
    response = client.get(url)
    assert response.status_code == 400
    assert not response.data.startswith(b"\xef\xbb\xbf")


def test_csv_is_streamed_in_chunks(day, auth, client, monkeypatch):
    monkeypatch.setattr(exports, "CSV_CHUNK", 300)
    auth.login("neiqin")
    response = client.get(f"/reports/findings.csv?{Q}", buffered=False)
    chunks = list(response.response)
    response.close()
    assert len(chunks) > 3
    assert chunks[0].startswith(b"\xef\xbb\xbf") and not any(c.startswith(b"\xef\xbb\xbf") for c in chunks[1:])
    assert b"".join(chunks).decode("utf-8-sig").count("\r\n") == 1 + 19


def test_xlsx_export(day, auth, client):
    auth.login("lingdao")
    response = client.get(f"/reports/findings.xlsx?{Q}&street={day.gulou.id}&status=rectified")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    assert book.sheetnames == ["问题清单"]
    assert rows[0][:3] == ["编号", "发现时间", "街道"]
    assert [r[0] for r in rows[1:]] == [day.findings[n].uuid for n in ("old_bin", "wood", "poster")]
    # Local times (Asia/Shanghai), not UTC: deadline 12:00, dispatched 10:45, rectified 14:00.
    assert rows[3][7:] == ["乱贴乱画", "乱贴乱画（运河路电线杆上有小广告）", "运河路电线杆上有小广告", "已整改", "xuncha1",
                           datetime(2025, 9, 18, 12, 0), datetime(2025, 9, 18, 10, 45), datetime(2025, 9, 18, 14, 0),
                           None, "是"]


LEAGUE_HEADER = ["街道", "社区", "问题记录", "立案", "派遣", "按期整改", "按期整改率（%）", "当前超期", "累计超期",
                 "平均整改时长（小时）", "重复点位", "已核查"]


def test_league_csv(day, auth, client):
    # Generated long after the period, so every open problem with a deadline is overdue now.
    auth.login("lingdao")
    rows = read_csv(client.get(f"/reports/league.csv?{Q}&street={day.gulou.id}"))
    assert rows == [
        LEAGUE_HEADER,
        ["古楼街道", "汇金社区", "8", "6", "5", "2", "40.0", "2", "3", "3.4", "1", "1"],
        ["古楼街道", "香江社区", "4", "4", "4", "1", "25.0", "2", "3", "11.8", "0", "1"],
        ["古楼街道", "公园社区", "0", "0", "0", "0", "", "0", "0", "", "0", "0"],
        ["合计", "", "12", "10", "9", "3", "33.3", "4", "6", "6.8", "1", "2"],
    ]


def test_league_xlsx_follows_the_chosen_sort(day, auth, client):
    auth.login("lingdao")
    response = client.get(f"/reports/league.xlsx?{Q}&street={day.gulou.id}&sort=findings&dir=asc")
    rows = [list(r) for r in load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)]
    assert rows[0] == LEAGUE_HEADER
    assert [r[1] for r in rows[1:]] == ["公园社区", "香江社区", "汇金社区", None]
    assert rows[3] == ["古楼街道", "汇金社区", 8, 6, 5, 2, 40.0, 2, 3, 3.4, 1, 1]


def test_notes_that_look_like_formulas_stay_text(day, auth, client):
    from tests.factories import make_finding
    from tests.report_day import at

    make_finding(day.inspector, day.gongyuan, category_code="litter", captured_at=at(18, 12, 0),
                 note='=HYPERLINK("http://example.invalid","点我")', status="accepted")
    make_finding(day.inspector, day.gongyuan, category_code="litter", captured_at=at(18, 12, 5),
                 note="-1+1 楼下垃圾", status="accepted")
    db.session.commit()
    auth.login("neiqin")
    q = f"{Q}&community={day.gongyuan.id}"
    rows = read_csv(client.get(f"/reports/findings.csv?{q}"))
    assert [r[9] for r in rows[1:]] == ['\'=HYPERLINK("http://example.invalid","点我")', "'-1+1 楼下垃圾"]
    book = load_workbook(io.BytesIO(client.get(f"/reports/findings.xlsx?{q}").data))
    cell = book.active["J2"]
    assert cell.value == '=HYPERLINK("http://example.invalid","点我")' and cell.data_type == "s"


def test_sheet_cells_of_every_kind_read_back_as_written(app):
    """The rows of a sheet are serialised by exports itself (not openpyxl's per-cell writer):
    whatever a report puts in a row must read back the same in openpyxl, and so in Excel."""
    from datetime import date
    from decimal import Decimal

    rows = [
        ("a & b < c > d", " leading space", "trailing ", 3, 2.5, True, False, Decimal("1.25"),
         date(2025, 1, 2), datetime(2025, 9, 18, 8, 30, 15, 500000), None, "#N/A", "=1+1"),
        ("控\x07制\x1f字符", "", "x" * 40_000, 0, -7, 1e20, float("nan")),
    ]
    workbook = exports.new_workbook()
    assert exports.write_table(workbook, "表", ["甲", "乙"], rows, preface=[["标题"], []]) == 2
    sheet = load_workbook(io.BytesIO(exports.xlsx_bytes(workbook)))["表"]
    got = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert got[0][0] == "标题" and got[2][:2] == ["甲", "乙"] and sheet["A3"].font.b
    assert got[3] == ["a & b < c > d", " leading space", "trailing ", 3, 2.5, True, False, 1.25,
                      datetime(2025, 1, 2), datetime(2025, 9, 18, 8, 30, 15, 500000), None, "#N/A", "=1+1"]
    assert sheet["I4"].number_format == "yyyy-mm-dd" and sheet["J4"].number_format == "yyyy-mm-dd hh:mm"
    # Text from a phone is never a formula or an error value; characters XML cannot carry are dropped.
    assert sheet["M4"].data_type == "s" and sheet["L4"].data_type == "s"
    assert got[4][:6] == ["控制字符", None, "x" * 32_767, 0, -7, 1e20] and got[4][6] is None
    with pytest.raises(TypeError):
        exports.write_table(exports.new_workbook(), "x", [], [(datetime(2025, 1, 1, tzinfo=None).astimezone(),)])
