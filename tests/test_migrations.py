"""Migrations on a database of their own: upgrade from empty, downgrade one step, upgrade again.

Runs on SQLite, and on PostgreSQL (in a schema created for the test and dropped after) when
TEST_DATABASE_URL is set. The migrated schema must match the models, so a model change without its
migration fails here rather than on a server.
"""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from tests.conftest import isolated_database
from webapp import create_app
from webapp.extensions import db


@pytest.fixture
def empty_database(tmp_path):
    with isolated_database(tmp_path, "mig") as database:
        yield database


@pytest.fixture
def migration_app(empty_database, tmp_path):
    url, options = empty_database
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": options,
                      "UPLOAD_DIR": str(tmp_path)})
    yield app
    with app.app_context():
        db.engine.dispose()


def _script(app) -> ScriptDirectory:
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def _current(app) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def _schema_diff() -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        return compare_metadata(context, db.metadata)


def test_there_is_one_head(app):
    with app.app_context():
        heads = _script(app).get_heads()
    assert len(heads) == 1, f"several migration heads {heads}: set one down_revision to the other head"


def test_upgrade_downgrade_one_step_upgrade_again(migration_app):
    app = migration_app
    with app.app_context():
        script = _script(app)
        head = script.get_current_head()
        previous = script.get_revision(head).down_revision
        assert _current(app) is None and _tables() == set()

        upgrade()
        assert _current(app) == head
        assert _tables() == set(db.metadata.tables)
        assert _schema_diff() == [], "models and migrations disagree: add a migration"

        downgrade(revision="-1")
        assert _current(app) == (previous if isinstance(previous, str) or previous is None else previous[0])
        if previous is None:
            assert _tables() == set()

        upgrade()
        assert _current(app) == head
        assert _tables() == set(db.metadata.tables)
        assert _schema_diff() == []


def test_full_downgrade_to_empty_and_back(migration_app):
    """Every step's downgrade works, not only the newest one's."""
    app = migration_app
    with app.app_context():
        upgrade()
        downgrade(revision="base")
        assert _current(app) is None and _tables() == set()
        upgrade()
        assert _current(app) == _script(app).get_current_head()
