"""The bulk generator (bench/generate.py) on a small total: the shape the queue and report benchmarks
rely on, rows the workflow could have written, read back through the app's own services.

The generator writes SQLite only, so this module makes its own SQLite file whatever database the rest
of the suite runs on.
"""
from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from bench import generate
from webapp import create_app
from webapp.extensions import db
from webapp.models import Category, Community, Finding, Photo, Street, User
from webapp.services import queue as queue_service
from webapp.services.daily_report import build_daily_report
from webapp.services.dashboard import league_table
from webapp.services.demo import seed_demo
from webapp.services.exports import csv_stream, filtered_rows
from webapp.services.photos import normalise_uuid
from webapp.services.reports import ACCEPTED_STATUSES, FindingFilter, Period, local_day_bounds
from webapp.services.workflow import compute_deadline, default_party

TOTAL = 4_500
REPORT = 300
STREET = "古楼街道"
OPEN_FOR_PARTY = {"dispatched", "acknowledged"}
STEPS = {  # status → the workflow timestamps it has (everything else NULL)
    "ok": set(), "submitted": set(), "rejected": set(), "duplicate": set(), "accepted": {"accepted_at"},
    "dispatched": {"accepted_at", "dispatched_at"}, "disputed": {"accepted_at", "dispatched_at"},
    "acknowledged": {"accepted_at", "dispatched_at", "acknowledged_at"},
    "rectified": {"accepted_at", "dispatched_at", "acknowledged_at", "rectified_at"},
    "verified": {"accepted_at", "dispatched_at", "acknowledged_at", "rectified_at", "verified_at"},
}
VERSION = {"ok": 1, "submitted": 1, "rejected": 2, "duplicate": 2, "accepted": 2, "dispatched": 3, "disputed": 4,
           "acknowledged": 4, "rectified": 5, "verified": 6}
# One clock for the generator and every check. Whole seconds, as the generator counts them: a deadline
# at the very second of a fractional "now" would be past for one and not yet for the other.
NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _seeded(path, uploads):
    app = create_app({"TESTING": True, "DEMO_MODE": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "UPLOAD_DIR": str(uploads)})
    with app.app_context():
        upgrade()
        seed_demo(history=False)
        db.session.remove()
        db.engine.dispose()  # the generator takes the file for itself
    return app


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory):
    """A migrated, demo-seeded SQLite file filled by the generator; the app over it; the stats; and a
    copy of the file as it was before the generator ran."""
    folder = tmp_path_factory.mktemp("bench")
    app = _seeded(folder / "bench.sqlite3", folder)
    shutil.copy(folder / "bench.sqlite3", folder / "seeded.sqlite3")
    stats = generate.generate(str(folder / "bench.sqlite3"), total=TOTAL, report_count=REPORT, now=NOW)
    yield app, stats, folder / "seeded.sqlite3"
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def bench_ctx(bench_db):
    app = bench_db[0]
    with app.app_context():
        yield
        db.session.rollback()


def _desk() -> User:
    return db.session.scalar(select(User).where(User.username == "desk"))


def test_days_counts_and_the_report_street_day(bench_db, bench_ctx):
    _app, stats, _seeded_copy = bench_db
    today = NOW.astimezone(generate.LOCAL).date()
    assert stats["findings"] == TOTAL == db.session.scalar(select(func.count()).select_from(Finding))
    assert stats["report_day"] == today - timedelta(days=1)
    assert sum(stats["statuses"].values()) == TOTAL
    per_day = Counter(f.captured_at.astimezone(generate.LOCAL).date() for f in db.session.scalars(select(Finding)))
    assert sorted(per_day) == [today - timedelta(days=d) for d in range(generate.DAYS, 0, -1)]
    street = db.session.scalar(select(Street).where(Street.name == STREET))
    assert stats["report_street_id"] == street.id
    start, end = local_day_bounds(stats["report_day"])
    on_report_day = select(func.count()).select_from(Finding).join(Community, Community.id == Finding.community_id)
    that_day = [Finding.captured_at >= start, Finding.captured_at < end]
    assert db.session.scalar(on_report_day.where(Community.street_id == street.id, *that_day)) == REPORT
    # The other streets keep an ordinary day's share.
    others_yesterday = db.session.scalar(on_report_day.where(Community.street_id != street.id, *that_day))
    others_usual = db.session.scalar(on_report_day.where(
        Community.street_id != street.id, Finding.captured_at >= start - timedelta(days=1),
        Finding.captured_at < start))
    assert 0.6 * others_usual < others_yesterday < 1.5 * others_usual


def test_ids_ascend_with_capture_time_and_uuids_are_unique(bench_db, bench_ctx):
    rows = db.session.execute(select(Finding.id, Finding.captured_at, Finding.uuid).order_by(Finding.id)).all()
    assert [r.captured_at for r in rows] == sorted(r.captured_at for r in rows)
    uuids = [r.uuid for r in rows] + list(db.session.scalars(select(Photo.uuid)))
    assert len(set(uuids)) == len(uuids)
    assert all(normalise_uuid(u) == u for u in uuids)


def test_every_row_is_a_state_the_workflow_reaches(bench_db, bench_ctx):
    now = NOW
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    findings = db.session.scalars(select(Finding).options(joinedload(Finding.site), joinedload(Finding.photos))
                                  ).unique().all()
    for f in findings:
        assert f.version == VERSION[f.status], (f.id, f.status, f.version)
        present = {name for name in ("accepted_at", "dispatched_at", "acknowledged_at", "rectified_at",
                                     "verified_at") if getattr(f, name) is not None}
        assert present == STEPS[f.status], (f.id, f.status, present)
        steps = [t for t in (f.captured_at, f.accepted_at, f.dispatched_at, f.acknowledged_at, f.rectified_at,
                             f.verified_at) if t is not None]
        assert steps == sorted(steps) and steps[-1] <= now and f.captured_at <= f.received_at <= now
        if f.status in ("ok", "submitted"):
            assert f.updated_at == f.received_at
        elif f.status in ("rejected", "duplicate", "disputed"):  # the decision has no column of its own
            assert steps[-1] < f.updated_at <= now
        else:
            assert f.updated_at == steps[-1]
        if f.kind == "ok":
            assert f.status == "ok" and f.site_id is not None and f.category_id is None and not f.photos
            continue
        assert f.category_id is not None
        assert [(p.kind, p.uploader_id, p.taken_at) for p in f.photos] == [("before", f.inspector_id, f.captured_at)]
        if f.zone_id is not None:
            assert f.zone.site_id == f.site_id
        if f.dispatched_at is None:
            assert f.deadline is None and f.party_kind is None and f.overdue_at is None
            continue
        assert f.deadline == compute_deadline(categories[f.category_id], f.dispatched_at)
        party = default_party(f)
        assert (f.party_kind, f.party_community_id or f.party_site_id) == (party.kind, party.id)
        # workflow._overdue_mark when it left the party's hands, mark_overdue while still in them.
        left_at = f.rectified_at if f.rectified_at else f.updated_at if f.status == "disputed" else None
        late = left_at > f.deadline if left_at else f.status in OPEN_FOR_PARTY and f.deadline < now
        assert f.overdue_at == (f.deadline if late else None), (f.id, f.status)


def test_shape_the_benchmarks_rely_on(bench_db, bench_ctx):
    rows = db.session.execute(select(Finding.kind, Finding.status, Finding.captured_at, Finding.inspector_id,
                                     Finding.party_kind)).all()
    kinds = Counter(r.kind for r in rows)
    assert 0.12 < kinds["ok"] / TOTAL < 0.18
    assert len({r.inspector_id for r in rows}) == 2 + generate.EXTRA_INSPECTORS
    assert {r.party_kind for r in rows} == {None, "community", "market"}
    yesterday = NOW.astimezone(generate.LOCAL).date() - timedelta(days=1)
    older = Counter(r.status for r in rows if r.kind == "problem"
                    and r.captured_at.astimezone(generate.LOCAL).date() < yesterday)
    problems = sum(older.values())
    assert older["verified"] / problems > 0.7
    assert 0.02 < older["submitted"] / problems < 0.07  # the desk's queue runs tens of thousands deep at a million
    recent = Counter(r.status for r in rows if r.kind == "problem"
                     and r.captured_at.astimezone(generate.LOCAL).date() == yesterday)
    assert {"submitted", "dispatched", "acknowledged", "rectified"} <= set(recent)


def test_queue_dashboard_report_and_export_read_the_rows(bench_db, bench_ctx):
    _app, stats, _seeded_copy = bench_db
    desk = _desk()
    # The desk's default queue: every submitted finding once, oldest first, by the service's cursors.
    submitted = list(db.session.scalars(select(Finding.id).where(Finding.status == "submitted")
                                        .order_by(Finding.captured_at, Finding.id)))
    walked, cursor = [], None
    while True:
        page = queue_service.page(desk, queue_service.parse_filters({}), after=cursor,
                                  limit=queue_service.MAX_PAGE_SIZE)
        walked += [f.id for f in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == submitted and len(submitted) > 100

    period = Period(stats["report_day"] - timedelta(days=generate.DAYS - 1), stats["report_day"])
    league, total = league_table(desk, FindingFilter(period), now=NOW)
    problems = db.session.scalar(select(func.count()).select_from(Finding).where(Finding.kind == "problem"))
    assert total.findings == problems
    busiest = max(league, key=lambda row: row.findings)
    assert "湖西" in busiest.name  # the community with the market

    report = build_daily_report(desk, stats["report_day"], stats["report_street_id"], now=NOW)
    start, end = local_day_bounds(stats["report_day"])
    statuses = Counter(db.session.scalars(
        select(Finding.status).join(Community, Community.id == Finding.community_id)
        .where(Community.street_id == stats["report_street_id"], Finding.captured_at >= start,
               Finding.captured_at < end)))
    assert report.total("problems") == sum(statuses[s] for s in ACCEPTED_STATUSES) > REPORT // 3
    assert report.total("pending") == statuses["submitted"] > REPORT // 10

    header, rows = filtered_rows(desk, FindingFilter(period))
    lines = b"".join(csv_stream(header, rows)).decode("utf-8-sig").splitlines()
    assert len(lines) == TOTAL + 1


def test_same_seed_and_clock_give_the_same_rows(bench_db, tmp_path):
    _app, _stats, seeded = bench_db
    dumps = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(seeded, path)
        generate.generate(str(path), total=2_000, report_count=100, now=NOW)
        with sqlite3.connect(path) as con:
            dumps.append(con.execute("SELECT * FROM findings ORDER BY id").fetchall()
                         + con.execute("SELECT * FROM photos ORDER BY id").fetchall())
    assert dumps[0] == dumps[1] and len(dumps[0]) > 2_000
