"""PostgreSQL-first-class: partial indexes exist on both databases and the planner can use them;
pool settings come from the environment."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from webapp.config import _engine_options
from webapp.extensions import db

PARTIAL = {
    "ix_findings_submitted_queue": "submitted",
    "ix_findings_overdue_due": "overdue_at",
    "ix_findings_party_community_open": "dispatched",
    "ix_findings_party_site_open": "dispatched",
    "ix_findings_rectified_queue": "rectified",
}


def _index_sql(conn) -> dict[str, str]:
    if conn.dialect.name == "postgresql":
        rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'findings' "
                                 "AND schemaname = current_schema()"))
    else:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'findings'"))
    return {name: sql or "" for name, sql in rows}


def test_partial_indexes_exist_with_their_conditions(app):
    with app.app_context(), db.engine.connect() as conn:
        indexes = _index_sql(conn)
    for name, fragment in PARTIAL.items():
        assert name in indexes, name
        definition = indexes[name]
        assert " WHERE " in definition.upper() and fragment in definition, definition


@pytest.mark.parametrize("query, index", [
    ("SELECT id FROM findings WHERE overdue_at IS NULL AND deadline IS NOT NULL AND deadline < now() "
     "AND status IN ('dispatched', 'acknowledged')", "ix_findings_overdue_due"),
    ("SELECT count(*) FROM findings WHERE status = 'submitted'", "ix_findings_submitted_queue"),
    ("SELECT id FROM findings WHERE status = 'rectified' ORDER BY rectified_at, id LIMIT 200",
     "ix_findings_rectified_queue"),
    ("SELECT id FROM findings WHERE party_community_id IN (1, 2) AND status IN ('dispatched', 'acknowledged') "
     "ORDER BY deadline", "ix_findings_party_community_open"),
])
def test_postgresql_proves_the_queries_match_the_index_conditions(app, query, index):
    """With sequential scans priced out and the other partial indexes dropped (in a transaction that
    is rolled back), a plan naming the index shows PostgreSQL can prove the query's WHERE implies the
    index's condition — the one thing that decides whether a partial index is ever used."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            pytest.skip("planner check for PostgreSQL")
        trans = conn.begin()
        try:
            for other in PARTIAL:
                if other != index:
                    conn.execute(text(f"DROP INDEX {other}"))
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {query}")))
        finally:
            trans.rollback()
    assert index in plan, plan


def test_pool_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://app@db.internal/xuncha")
    monkeypatch.setenv("DB_POOL_SIZE", "8")
    monkeypatch.setenv("DB_MAX_OVERFLOW", "2")
    monkeypatch.setenv("DB_POOL_RECYCLE", "600")
    options = _engine_options()
    assert (options["pool_size"], options["max_overflow"], options["pool_recycle"]) == (8, 2, 600)
    assert options["pool_pre_ping"] is True
    assert options["connect_args"] == {"connect_timeout": 5}
    monkeypatch.setenv("DATABASE_URL", "sqlite:///:memory:")
    assert _engine_options() == {"pool_pre_ping": True}
    monkeypatch.delenv("DB_POOL_SIZE")
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/xuncha/xuncha.sqlite3")
    assert _engine_options()["pool_size"] == 5 and "connect_args" not in _engine_options()


def test_the_pool_is_what_the_engine_uses(app, database_url, tmp_path):
    from webapp import create_app

    url, engine_options = database_url
    sized = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "UPLOAD_DIR": str(tmp_path),
                        "SQLALCHEMY_ENGINE_OPTIONS": {**engine_options, "pool_size": 7, "max_overflow": 3,
                                                      "pool_recycle": 900}})
    with sized.app_context():
        pool = db.engine.pool
        assert pool.size() == 7 and pool._max_overflow == 3 and pool._recycle == 900
        assert db.session.execute(text("SELECT 1")).scalar_one() == 1
        db.session.remove()
