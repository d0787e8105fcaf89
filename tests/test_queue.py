"""The desk queue: keyset pagination without gaps or repeats (equal timestamps included), filters,
faceted counts, neighbours for J/K, duplicate candidates, and scope."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from tests.factories import category
from tests.workflow_support import build_world, finding_in
from webapp.extensions import db
from webapp.models import Finding
from webapp.services import queue
from webapp.services.queue import QueueFilters, decode_cursor

UTC = timezone.utc
T0 = datetime(2026, 5, 6, 1, 0, tzinfo=UTC)


def _walk(user, filters, limit):
    seen, cursor, pages = [], None, 0
    while True:
        page = queue.page(user, filters, after=cursor, limit=limit)
        seen += [f.id for f in page.items]
        pages += 1
        if not page.next_cursor:
            return seen, pages
        cursor = page.next_cursor
        assert pages < 100


def test_keyset_pages_through_equal_timestamps_without_gap_or_repeat(ctx):
    world = build_world()
    # 23 findings at exactly the same instant (one phone's batch), framed by earlier and later ones.
    for i in range(5):
        finding_in(world, "submitted", captured_at=T0 - timedelta(minutes=i + 1))
    for _ in range(23):
        finding_in(world, "submitted", captured_at=T0)
    for i in range(4):
        finding_in(world, "submitted", captured_at=T0 + timedelta(seconds=i + 1))
    expected = list(db.session.scalars(select(Finding.id).where(Finding.status == "submitted")
                                       .order_by(Finding.captured_at, Finding.id)))
    assert len(expected) == 32
    for limit in (1, 4, 7, 10, 32, 50):
        seen, pages = _walk(world.desk, QueueFilters(), limit)
        assert seen == expected, f"limit {limit}"
        assert len(set(seen)) == len(seen)
        assert pages == max(1, -(-32 // limit))


def test_rows_arriving_while_paging_do_not_shift_pages(ctx):
    world = build_world()
    for _ in range(6):
        finding_in(world, "submitted", captured_at=T0)
    first = queue.page(world.desk, QueueFilters(), limit=3)
    # A phone syncs an older capture while the desk reads page one: OFFSET paging would repeat a row.
    finding_in(world, "submitted", captured_at=T0 - timedelta(hours=1))
    second = queue.page(world.desk, QueueFilters(), after=first.next_cursor, limit=3)
    ids = [f.id for f in first.items] + [f.id for f in second.items]
    assert len(set(ids)) == 6


def test_previous_page_is_the_mirror_of_next(ctx):
    world = build_world()
    for _ in range(9):
        finding_in(world, "submitted", captured_at=T0)
    p1 = queue.page(world.desk, QueueFilters(), limit=4)
    p2 = queue.page(world.desk, QueueFilters(), after=p1.next_cursor, limit=4)
    back = queue.page(world.desk, QueueFilters(), before=p2.prev_cursor, limit=4)
    assert [f.id for f in back.items] == [f.id for f in p1.items]
    assert back.prev_cursor is None and back.next_cursor


def test_mangled_cursor_restarts_at_the_first_page(ctx):
    world = build_world()
    finding_in(world, "submitted")
    assert decode_cursor("!!not-base64") is None
    assert len(queue.page(world.desk, QueueFilters(), after="!!not-base64").items) == 1


def test_filters_and_facet_counts(ctx):
    world = build_world()
    a = finding_in(world, "submitted", captured_at=T0)  # 香江背街, litter
    finding_in(world, "submitted", captured_at=T0, category_code="flyposting")
    finding_in(world, "submitted", site=world.other_market, captured_at=T0 + timedelta(days=1))  # 汇金
    finding_in(world, "dispatched", captured_at=T0)
    late = finding_in(world, "dispatched", captured_at=T0, deadline=T0)
    late.overdue_at = T0
    db.session.commit()

    by_community = queue.page(world.desk, QueueFilters(community_id=world.xiangjiang.id))
    assert {f.community_id for f in by_community.items} == {world.xiangjiang.id}
    assert len(by_community.items) == 2
    litter = category("litter").id
    assert [f.id for f in queue.page(world.desk, QueueFilters(category_id=litter,
                                                             community_id=world.xiangjiang.id)).items] == [a.id]
    # local dates: T0 is 09:00 on 2026-05-06 in Shanghai
    day = queue.page(world.desk, QueueFilters(date_from=T0.date(), date_to=T0.date()))
    assert len(day.items) == 2
    assert len(queue.page(world.desk, QueueFilters(status="open")).items) == 2
    assert [f.id for f in queue.page(world.desk, QueueFilters(status="all", overdue=True)).items] == [late.id]

    counts = queue.counts(world.desk, QueueFilters(community_id=world.xiangjiang.id))
    assert counts["total"] == 2
    # the community facet ignores its own filter: 汇金 still shows what it would hold
    assert {c["label"]: c["count"] for c in counts["community_id"]} == {"香江社区": 2, "汇金社区": 1}
    assert counts["status"] == {"submitted": 2, "dispatched": 2}
    assert {c["label"] for c in counts["category_id"]} == {"散落垃圾", "乱贴乱画"}
    assert counts["overdue"] == 0  # overdue among submitted ones in 香江
    # closed statuses are bounded by a date range before they are counted value by value
    bounded = queue.counts(world.desk, QueueFilters(status="all", date_from=T0.date(), date_to=T0.date()))
    assert bounded["overdue"] == 1 and bounded["total"] == 4
    unbounded = queue.counts(world.desk, QueueFilters(status="all"))
    assert unbounded["overdue"] is None and unbounded["total"] == 5 and not unbounded["total_capped"]
    assert {c["label"]: c["count"] for c in unbounded["community_id"]} == {"香江社区": None, "汇金社区": None}


def test_uncounted_total_is_capped(ctx, monkeypatch):
    world = build_world()
    for _ in range(4):
        finding_in(world, "verified")
    monkeypatch.setattr(queue, "TOTAL_CAP", 3)
    result = queue.counts(world.desk, QueueFilters(status="verified"))
    assert (result["total"], result["total_capped"]) == (3, True)


def test_status_group_pages_merge_statuses_in_order(ctx):
    world = build_world()
    rows = []
    for i in range(9):  # dispatched and acknowledged interleaved, some at the same instant
        rows.append(finding_in(world, "dispatched" if i % 2 else "acknowledged",
                               captured_at=T0 + timedelta(minutes=i // 3)))
    finding_in(world, "rectified", captured_at=T0)
    expected = [f.id for f in sorted(rows, key=lambda f: (f.captured_at, f.id))]
    seen, _pages = _walk(world.desk, QueueFilters(status="open"), 2)
    assert seen == expected
    p1 = queue.page(world.desk, QueueFilters(status="open"), limit=4)
    p2 = queue.page(world.desk, QueueFilters(status="open"), after=p1.next_cursor, limit=4)
    back = queue.page(world.desk, QueueFilters(status="open"), before=p2.prev_cursor, limit=4)
    assert [f.id for f in back.items] == [f.id for f in p1.items]
    assert queue.neighbours(world.desk, QueueFilters(status="open"), p1.items[1]) == (p1.items[0].uuid,
                                                                                        p1.items[2].uuid)


def test_parse_filters_ignores_garbage():
    f = queue.parse_filters({"status": "nonsense", "community_id": "abc", "date_from": "2026-13-45",
                             "overdue": "1", "site_id": "-3"})
    assert f == QueueFilters(overdue=True)
    assert queue.parse_filters(f.as_args()) == f


def test_neighbours_follow_queue_order(ctx):
    world = build_world()
    rows = [finding_in(world, "submitted", captured_at=T0) for _ in range(3)]
    prev_uuid, next_uuid = queue.neighbours(world.desk, QueueFilters(), rows[1])
    assert (prev_uuid, next_uuid) == (rows[0].uuid, rows[2].uuid)
    assert queue.neighbours(world.desk, QueueFilters(), rows[0])[0] is None


def test_duplicate_candidates_same_site_category_open_within_7_days(ctx):
    world = build_world()
    f = finding_in(world, "submitted", captured_at=T0)
    near = finding_in(world, "dispatched", captured_at=T0 - timedelta(days=3))
    finding_in(world, "verified", captured_at=T0 - timedelta(days=1))  # closed
    finding_in(world, "submitted", captured_at=T0 - timedelta(days=9))  # too old
    finding_in(world, "submitted", captured_at=T0, category_code="flyposting")  # other category
    finding_in(world, "submitted", captured_at=T0, market=True)  # other site
    assert [c.id for c in queue.duplicate_candidates(world.desk, f)] == [near.id]


def test_queue_is_scoped(ctx):
    world = build_world()
    mine = finding_in(world, "submitted", market=True)
    finding_in(world, "submitted", site=world.other_market)
    finding_in(world, "submitted")
    assert [f.id for f in queue.page(world.manager, QueueFilters()).items] == [mine.id]
    staff_ids = {f.community_id for f in queue.page(world.staff, QueueFilters()).items}
    assert staff_ids == {world.xiangjiang.id}
    assert queue.counts(world.other_staff, QueueFilters())["total"] == 1
