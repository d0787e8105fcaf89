"""One fixed day of patrol data (2025-09-18, the date of the seed's 古楼街道 report) for the report,
dashboard and export tests. Every expectation in those tests is written by hand from this story:

古楼街道 / 汇金社区 (patrol order)
  09:05 运河路西沿儿蓬莱野生海鲜馆  problem 店外摆放 "店外摆放酒箱、桌椅等物品", dispatched 09:30, deadline 18:00 → open, overdue now
  09:20 王口新村   ok
  09:25 王口新村   problem 乱堆乱放 "新出现一堆烂木材需要清理", dispatched 10:00, rectified 15:00 (on time)
  09:26 王口新村   problem 散落垃圾 "个别楼下有散落垃圾", dispatched 10:00, rectified 12:00, verified 16:00
  09:40 中通时代豪园二期  ok;   09:41 the same site, problem rejected
  10:10 管道局家属院  ok;   10:12 problem 落叶/积水 "落叶较多", accepted (not yet dispatched)
  10:30 (no site)  problem 乱贴乱画 "运河路电线杆上有小广告", dispatched 10:45, deadline 12:00,
        overdue 12:00, rectified 14:00 (late fix)
  11:00 新村路口   problem submitted (pending review)
古楼街道 / 香江社区
  08:30 湖西早市 活禽区  problem 活禽/屠宰区未密闭 (no note), dispatched 09:00, deadline 24:00
  08:35 湖西早市 果蔬区  problem 市场分区不规范 "果蔬摊位摆到通道上", dispatched 09:00, acknowledged
  11:30 and 15:00 硫酸厂家属院  ok twice
  16:00 (no site)  ok "香江路沿街"
古楼街道 / 公园社区: nothing.
Earlier days (古楼街道):
  09-16 09:00 汇金 王口新村 problem 散落垃圾 "楼道口垃圾未清运", dispatched 09:30, deadline 09-17 00:00,
        overdue since then, still dispatched (overdue from an earlier day; a repeat of 09-18's 散落垃圾)
  09-17 10:00 香江 硫酸厂家属院 problem 垃圾箱满溢/异味, dispatched 10:30, deadline 09-18 00:00,
        overdue, rectified 09-18 08:00 (an earlier problem fixed late on the report day)
  09-17 09:00 香江 硫酸厂家属院 problem 散落垃圾 "门口纸屑", dispatched 09:30, rectified 11:30, verified
柳园街道 / 文苑社区: 09-18 10:00 聊城二中家属院 problem 散落垃圾 accepted.

The report is generated at 2025-09-18 21:30 local time (NOW).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from tests.factories import make_community, make_finding, make_site, make_street, make_user

TZ = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in September 2025 as an aware UTC datetime."""
    return datetime(2025, 9, day, hour, minute, tzinfo=TZ).astimezone(timezone.utc)


NOW = at(18, 21, 30)
END_OF_18 = at(19, 0)


@dataclass
class Day:
    gulou: object
    liuyuan: object
    huijin: object
    xiangjiang: object
    gongyuan: object
    wenyuan: object
    inspector: object
    inspector2: object
    idle_inspector: object
    desk: object
    leader: object
    findings: dict


def build_day() -> Day:
    gulou = make_street("古楼街道")
    liuyuan = make_street("柳园街道")
    huijin = make_community(gulou, "汇金社区")
    xiangjiang = make_community(gulou, "香江社区")
    gongyuan = make_community(gulou, "公园社区")
    wenyuan = make_community(liuyuan, "文苑社区")

    seafood = make_site(huijin, "运河路西沿儿蓬莱野生海鲜馆", kind="shop_frontage")
    wangkou = make_site(huijin, "王口新村")
    zhongtong = make_site(huijin, "中通时代豪园二期")
    guandao = make_site(huijin, "管道局家属院")
    crossing = make_site(huijin, "新村路口", kind="back_lane")
    market = make_site(xiangjiang, "湖西早市", kind="market", zones=("果蔬区", "水产品区", "活禽区"))
    liusuan = make_site(xiangjiang, "硫酸厂家属院")
    make_site(gongyuan, "新嘉园小区")
    school = make_site(wenyuan, "聊城二中家属院")
    zones = {z.name: z for z in market.zones}

    inspector = make_user("xuncha1", streets=[gulou])
    inspector2 = make_user("xuncha2", streets=[gulou])
    idle_inspector = make_user("xuncha3", streets=[gulou])
    desk = make_user("neiqin", roles=("desk",))
    leader = make_user("lingdao", roles=("leader",), streets=[gulou])

    def problem(community, site, code, when, note="", status="accepted", by=None, **kw):
        return make_finding(by or inspector, community, site=site, category_code=code, captured_at=when,
                            note=note, status=status, accepted_at=kw.pop("accepted_at", when), **kw)

    def ok(community, site, when, note="", by=None):
        return make_finding(by or inspector, community, kind="ok", site=site, captured_at=when, note=note)

    f = {}
    f["seafood"] = problem(huijin, seafood, "shop_outside", at(18, 9, 5), "店外摆放酒箱、桌椅等物品",
                           status="dispatched", dispatched_at=at(18, 9, 30), deadline=at(18, 18, 0),
                           party_kind="community", party_community_id=huijin.id)
    f["wangkou_ok"] = ok(huijin, wangkou, at(18, 9, 20))
    f["wood"] = problem(huijin, wangkou, "clutter", at(18, 9, 25), "新出现一堆烂木材需要清理", status="rectified",
                        dispatched_at=at(18, 10, 0), deadline=END_OF_18, rectified_at=at(18, 15, 0))
    f["litter"] = problem(huijin, wangkou, "litter", at(18, 9, 26), "个别楼下有散落垃圾", status="verified",
                          dispatched_at=at(18, 10, 0), deadline=END_OF_18, rectified_at=at(18, 12, 0),
                          verified_at=at(18, 16, 0))
    f["zhongtong_ok"] = ok(huijin, zhongtong, at(18, 9, 40))
    f["zhongtong_rejected"] = problem(huijin, zhongtong, "litter", at(18, 9, 41), "地上有一片叶子", status="rejected")
    f["guandao_ok"] = ok(huijin, guandao, at(18, 10, 10))
    f["leaves"] = problem(huijin, guandao, "leaves_water", at(18, 10, 12), "落叶较多")
    f["poster"] = problem(huijin, None, "flyposting", at(18, 10, 30), "运河路电线杆上有小广告", status="rectified",
                          dispatched_at=at(18, 10, 45), deadline=at(18, 12, 0), overdue_at=at(18, 12, 0),
                          rectified_at=at(18, 14, 0))
    f["pending"] = problem(huijin, crossing, "litter", at(18, 11, 0), "路口有垃圾", status="submitted",
                           accepted_at=None)
    f["poultry"] = problem(xiangjiang, market, "poultry_open", at(18, 8, 30), status="dispatched",
                           zone=zones["活禽区"], dispatched_at=at(18, 9, 0), deadline=END_OF_18, by=inspector2)
    f["zoning"] = problem(xiangjiang, market, "market_zoning", at(18, 8, 35), "果蔬摊位摆到通道上",
                          status="acknowledged", zone=zones["果蔬区"], dispatched_at=at(18, 9, 0),
                          acknowledged_at=at(18, 9, 20), deadline=END_OF_18, by=inspector2)
    f["liusuan_ok1"] = ok(xiangjiang, liusuan, at(18, 11, 30), by=inspector2)
    f["liusuan_ok2"] = ok(xiangjiang, liusuan, at(18, 15, 0), by=inspector2)
    f["street_ok"] = ok(xiangjiang, None, at(18, 16, 0), note="香江路沿街", by=inspector2)

    f["old_overdue"] = problem(huijin, wangkou, "litter", at(16, 9, 0), "楼道口垃圾未清运", status="dispatched",
                               dispatched_at=at(16, 9, 30), deadline=at(17, 0, 0), overdue_at=at(17, 0, 0))
    f["old_bin"] = problem(xiangjiang, liusuan, "bin_overflow", at(17, 10, 0), status="rectified",
                           dispatched_at=at(17, 10, 30), deadline=at(18, 0, 0), overdue_at=at(18, 0, 0),
                           rectified_at=at(18, 8, 0), by=inspector2)
    f["old_paper"] = problem(xiangjiang, liusuan, "litter", at(17, 9, 0), "门口纸屑", status="verified",
                             dispatched_at=at(17, 9, 30), deadline=at(18, 0, 0), rectified_at=at(17, 11, 30),
                             verified_at=at(17, 15, 0), by=inspector2)
    f["other_street"] = problem(wenyuan, school, "litter", at(18, 10, 0), "操场边有垃圾")
    return Day(gulou, liuyuan, huijin, xiangjiang, gongyuan, wenyuan, inspector, inspector2, idle_inspector,
               desk, leader, f)
