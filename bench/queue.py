"""3. The desk queue at a million findings: first page vs a page half-way through, cursor vs OFFSET.

Run as ``python -m bench.queue DB WORKDIR`` on a database the generator filled (bench/generate.py).
(Import it as ``bench.queue``; run directly as a script it would shadow the standard library's queue.)

For the desk's unfiltered queue and a filtered one the walk to the middle follows the service's own cursors
(``services.queue.page(after=…)``, 200 rows a call) until half the matching rows lie behind it. Then
the page the desk sees (30 rows) is timed at the start and at that cursor: the service call, median of
15 of each, sampled alternately after one warm-up. The anchor is the same statement with OFFSET instead of the cursor, at the same
depth. For information, the whole ``GET /review/`` at the middle cursor through the test client: it
adds the facet counts (a GROUP BY per filter chip) and rendering to the page query.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .common import Figure, bench_app, budget, emit, fmt_ms, info, median_ms, paired_median_ms, user_token

SECTION = "3 queue"
PAGE_MS = 30.0
RATIO = 1.5
RUNS = 15


def measure(db_path: Path, workdir: Path) -> list[Figure]:
    from sqlalchemy import and_, func, select
    from sqlalchemy.orm import joinedload, selectinload

    from webapp.extensions import db
    from webapp.models import Community, Finding, User
    from webapp.services import queue as queue_service

    app = bench_app(db_path, workdir)
    token = user_token(app, "desk")
    client = app.test_client()
    figures: list[Figure] = []
    with app.app_context():
        desk = db.session.scalar(select(User).where(User.username == "desk"))
        total = db.session.scalar(select(func.count()).select_from(Finding))
        busiest = db.session.execute(
            select(Finding.community_id, func.count()).where(Finding.status == "submitted")
            .group_by(Finding.community_id).order_by(func.count().desc()).limit(1)).first()[0]
        name = db.session.get(Community, busiest).name
        figures.append(info(SECTION, "findings in the database", f"{total:,}"))
        # Unfiltered is what the desk sees before touching a chip: the 待审核 queue, tens of thousands
        # deep among the million. (全部 at a million would need a 500,000-row walk: minutes, not a
        # different answer — the seek is the same index range scan.)
        variants = (
            ("unfiltered (the default 待审核 queue)", {}),
            (f"filtered: 待审核 + community {name}", {"community_id": str(busiest)}),
        )
        for label, args in variants:
            filters = queue_service.parse_filters(args)
            matching = db.session.scalar(select(func.count()).select_from(Finding)
                                         .where(and_(*queue_service._clauses(desk, filters))))
            # Walk by the service's cursors until half the rows are behind us.
            cursor, walked = None, 0
            walk_started = time.perf_counter()
            while walked + queue_service.MAX_PAGE_SIZE <= matching // 2:
                page = queue_service.page(desk, filters, after=cursor, limit=queue_service.MAX_PAGE_SIZE)
                walked += len(page.items)
                cursor = page.next_cursor
                db.session.rollback()  # a desk's requests do not share one long read transaction
                if cursor is None:
                    break

            walk_s = time.perf_counter() - walk_started

            def first(filters=filters):
                queue_service.page(desk, filters)
                db.session.rollback()

            def deep(filters=filters, cursor=cursor):
                queue_service.page(desk, filters, after=cursor)
                db.session.rollback()

            def offset(filters=filters, walked=walked):
                stmt = (select(Finding).where(and_(*queue_service._clauses(desk, filters)))
                        .order_by(Finding.captured_at, Finding.id).offset(walked)
                        .limit(queue_service.PAGE_SIZE + 1)
                        .options(joinedload(Finding.community), joinedload(Finding.site),
                                 joinedload(Finding.category), joinedload(Finding.inspector),
                                 selectinload(Finding.photos)))
                list(db.session.scalars(stmt).unique())
                db.session.rollback()

            first_ms, deep_ms = paired_median_ms(first, deep, RUNS)
            offset_ms, _ = median_ms(offset, 5)
            ratio = deep_ms / first_ms
            ok = first_ms <= PAGE_MS and deep_ms <= PAGE_MS and ratio <= RATIO
            figures.append(budget(
                SECTION, f"{label}: first page / page at row {walked:,} of {matching:,}",
                f"{fmt_ms(first_ms)} / {fmt_ms(deep_ms)} (×{ratio:.2f})", f"≤ {PAGE_MS:.0f} ms, ≤ ×{RATIO}", ok,
                "queue.page(), 30 rows, median of 15"))
            query = {**args, "after": cursor} if cursor else args
            http_ms, _ = median_ms(lambda q=query: client.get("/review/", query_string=q,
                                                               headers={"Authorization": f"Bearer {token}"}), 3)
            figures.append(info(
                SECTION, f"{label}: OFFSET {walked:,} (the anchor) / whole GET /review/ page there",
                f"{fmt_ms(offset_ms)} / {fmt_ms(http_ms)}",
                f"OFFSET is ×{offset_ms / deep_ms:.0f} the cursor page; the page adds facet counts and HTML; "
                f"the walk there took {walk_s:.1f} s"))
    return figures


if __name__ == "__main__":
    emit(measure(Path(sys.argv[1]), Path(sys.argv[2])))
