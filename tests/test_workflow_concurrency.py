"""Two people acting on one finding at the same moment: exactly one wins (SQLite and PostgreSQL).

On PostgreSQL both requests are held at the guarded UPDATE until both have loaded the finding, so
the loser really did read the old version and is stopped by ``WHERE version = :loaded``. SQLite
serialises writers from their first statement (BEGIN IMMEDIATE), so there the second request reads
the winner's state and is stopped by the version or state check — the same outcome for the client.
"""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.workflow_support import build_world, finding_in, new_uuid
from webapp.extensions import db
from webapp.models import Event, Finding, User
from webapp.services import workflow
from webapp.services.errors import Conflict


def _race(app, monkeypatch, calls):
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(calls))
    original = workflow._guarded_update

    def gated(*args, **kwargs):
        if postgres:
            barrier.wait(timeout=10)
        return original(*args, **kwargs)

    monkeypatch.setattr(workflow, "_guarded_update", gated)
    results: list = [None] * len(calls)

    def run(i, user_id, finding_uuid, action_uuid, payload):
        with app.app_context():
            user = db.session.get(User, user_id)
            try:
                results[i] = ("created" if workflow.apply_action(user, finding_uuid, action_uuid, payload).created
                              else "replayed")
            except Conflict as err:
                results[i] = err.code
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.fixture
def dispatched(app):
    with app.app_context():
        world = build_world()
        f = finding_in(world, "dispatched")
        ids = (world.staff.id, f.uuid, f.id)
        db.session.remove()
    return ids


def test_two_different_actions_at_once_one_wins(app, monkeypatch, dispatched):
    staff_id, finding_uuid, finding_id = dispatched
    results = _race(app, monkeypatch, [
        (staff_id, finding_uuid, new_uuid(), {"type": "acknowledge", "expected_version": 1}),
        (staff_id, finding_uuid, new_uuid(), {"type": "dispute", "reason": "not_ours", "expected_version": 1}),
    ])
    assert results.count("created") == 1
    loser = next(r for r in results if r != "created")
    with app.app_context():
        # Held at the UPDATE, the loser read version 1 and lost there; serialised (SQLite) it read the
        # winner's state, which the version or the state check refuses.
        assert loser == "stale_version" if db.engine.dialect.name == "postgresql" else \
            loser in ("stale_version", "illegal_transition")
        f = db.session.get(Finding, finding_id)
        assert f.version == 2 and f.status in ("acknowledged", "disputed")
        assert db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == finding_id)) == 1


def test_two_different_actions_without_expected_version_one_wins(app, monkeypatch, dispatched):
    staff_id, finding_uuid, finding_id = dispatched
    results = _race(app, monkeypatch, [
        (staff_id, finding_uuid, new_uuid(), {"type": "acknowledge"}),
        (staff_id, finding_uuid, new_uuid(), {"type": "dispute", "reason": "not_ours"}),
    ])
    # The loser either lost at the guarded UPDATE (stale) or, serialised, found a state that no
    # longer allows its action; acknowledged → disputed is legal, so a serialised loser may also win.
    assert results.count("created") >= 1
    with app.app_context():
        f = db.session.get(Finding, finding_id)
        events = db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == finding_id))
        assert f.version == 1 + events == 1 + results.count("created")


def test_the_same_action_sent_twice_at_once_applies_once(app, monkeypatch, dispatched):
    staff_id, finding_uuid, finding_id = dispatched
    action_uuid = new_uuid()
    results = _race(app, monkeypatch, [
        (staff_id, finding_uuid, action_uuid, {"type": "acknowledge"}),
        (staff_id, finding_uuid, action_uuid, {"type": "acknowledge"}),
    ])
    assert sorted(results) == ["created", "replayed"]
    with app.app_context():
        assert db.session.get(Finding, finding_id).version == 2
        assert db.session.scalar(select(func.count()).select_from(Event).where(Event.finding_id == finding_id)) == 1
