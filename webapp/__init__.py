"""The application factory: wiring only (config, extensions, blueprints, CLI). No I/O, no DB creation."""
from __future__ import annotations

from flask import Flask, g, has_request_context, request
from flask_login import current_user

from . import logging_setup, sqlite_tuning
from .config import INSTANCE_DIR, PROJECT_ROOT, finalise, load_config
from .cookie_session import SessionInterface
from .extensions import babel, csrf, db, login_manager, migrate


def select_locale() -> str:
    # CLI commands and services (reports, import errors) translate outside any request.
    if not has_request_context():
        return "zh_CN"
    user = current_user
    if user and getattr(user, "is_authenticated", False) and user.locale:
        return user.locale
    lang = request.cookies.get("lang")
    return lang if lang in ("zh_CN", "en") else "zh_CN"


def create_app(config: dict | str | None = None) -> Flask:
    """Build the app. ``config`` is an environment name ("development", "production", "test") or a
    dict of overrides (``TESTING: True`` selects the test configuration)."""
    app = Flask(
        __name__,
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(INSTANCE_DIR),
    )
    if isinstance(config, dict):
        env_name = config.get("ENV_NAME") or ("test" if config.get("TESTING") else None)
    else:
        env_name = config
    config_class = load_config(env_name)
    app.config.from_object(config_class)
    app.config["ENV_NAME"] = config_class.ENV_NAME
    if isinstance(config, dict):
        app.config.update(config)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked in auth.tokens, after bearer tokens are resolved
    finalise(app.config)
    app.session_interface = SessionInterface()
    logging_setup.init_app(app)  # first, so request timing covers every other hook

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "webapp" / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["LOCAL_TIMEZONE"])

    @app.before_request
    def _mark_read_only_requests() -> None:
        g._write_intent_token = sqlite_tuning.set_write_intent(request.method not in ("GET", "HEAD", "OPTIONS"))

    @app.teardown_request
    def _reset_write_intent(_exc=None) -> None:
        # A worker thread (or a test) goes on after the request: it must not inherit "read only".
        token = g.pop("_write_intent_token", None)
        if token is not None:
            sqlite_tuning.reset_write_intent(token)

    from .auth import bp as auth_bp
    from .auth import tokens

    tokens.init_app(app)
    app.register_blueprint(auth_bp)

    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .capture import bp as capture_bp
    from .open311 import bp as open311_bp
    from .ops import bp as ops_bp
    from .pwa import bp as pwa_bp
    from .reports import bp as reports_bp
    from .review import bp as review_bp
    from .tasks import bp as tasks_bp

    for blueprint in (admin_bp, api_bp, capture_bp, open311_bp, ops_bp, pwa_bp, reports_bp, review_bp, tasks_bp):
        app.register_blueprint(blueprint)

    from . import security, template_helpers

    template_helpers.init_app(app)
    security.init_app(app)

    from .services import notices

    notices.init_app(app)  # dispatch → chat-group notice, queued in the dispatch's own transaction

    from .cli import register_cli

    register_cli(app)
    return app
