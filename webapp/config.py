"""Configuration classes: the only module that reads ``os.environ``."""
from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_DIR", PROJECT_ROOT / "instance"))


def _dev_secret_key() -> str:
    """Generate a key once and keep it under instance/, so sessions survive restarts in development.

    Several gunicorn workers may start at once on a fresh clone: the key is written to a private
    temporary file and hard-linked into place, so exactly one key wins and every worker reads it.
    """
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=INSTANCE_DIR, prefix=".secret_key.")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to generate a new key, or set SECRET_KEY")
    return key


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _engine_options() -> dict:
    """Connection pool per gunicorn worker process (docs/deploy.md "Connection pool").

    Each request thread holds at most one connection, so DB_POOL_SIZE should cover the worker's
    threads; the overflow absorbs the CLI or a notify loop sharing the process. Connections older
    than DB_POOL_RECYCLE seconds are replaced, so none outlives a firewall's or PgBouncer's idle
    timeout, and pool_pre_ping drops those the database closed (a restart, a failover).
    """
    url = os.environ.get("DATABASE_URL", "")
    if url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url:
        return {"pool_pre_ping": True}  # one in-memory database: SQLAlchemy's static pool, no sizes
    options: dict = {
        "pool_pre_ping": True,
        "pool_size": int(os.environ.get("DB_POOL_SIZE", "5")),
        "max_overflow": int(os.environ.get("DB_MAX_OVERFLOW", "10")),
        "pool_recycle": int(os.environ.get("DB_POOL_RECYCLE", "1800")),
        "pool_timeout": int(os.environ.get("DB_POOL_TIMEOUT", "30")),
    }
    if url.startswith("postgresql"):
        # An unreachable database fails /readyz and requests in seconds instead of a TCP timeout.
        options["connect_args"] = {"connect_timeout": int(os.environ.get("DB_CONNECT_TIMEOUT", "5"))}
    return options


class Config:
    ENV_NAME = "development"
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'xuncha.sqlite3'}"
    )
    SQLALCHEMY_ENGINE_OPTIONS: dict = _engine_options()
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(PROJECT_ROOT / "uploads"))
    # Photo storage (docs/deploy.md "Photo storage"): "local" (UPLOAD_DIR) or "s3" (any S3-compatible store).
    PHOTO_STORE = os.environ.get("STORAGE", "local")
    S3_BUCKET = os.environ.get("S3_BUCKET", "")
    S3_PREFIX = os.environ.get("S3_PREFIX", "")
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    S3_REGION = os.environ.get("S3_REGION") or None
    S3_ACCESS_KEY_ID = os.environ.get("AWS_ACCESS_KEY_ID") or None
    S3_SECRET_ACCESS_KEY = os.environ.get("AWS_SECRET_ACCESS_KEY") or None
    # "stream": the app sends photo bytes after its access check; "presigned": after the same check it
    # redirects to a link to the bucket valid for PHOTO_URL_TTL seconds (S3 only).
    PHOTO_SERVING = os.environ.get("PHOTO_SERVING", "stream")
    PHOTO_URL_TTL = int(os.environ.get("PHOTO_URL_TTL", "300"))
    # Local store behind nginx: the internal location that maps to UPLOAD_DIR (e.g. /_photos); nginx
    # then sends the file itself after the app's access check (X-Accel-Redirect). Empty: the app streams.
    PHOTO_X_ACCEL_PREFIX = os.environ.get("PHOTO_X_ACCEL_PREFIX", "")
    PORT = int(os.environ.get("PORT", "8000"))
    SECRET_KEY = os.environ.get("SECRET_KEY") or None

    # Demo accounts with a shared password exist only where this is on.
    DEMO_MODE = _bool("DEMO_MODE", True)

    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "webapp" / "translations")
    LANGUAGES = ("zh_CN", "en")
    LOCAL_TIMEZONE = os.environ.get("LOCAL_TIMEZONE", "Asia/Shanghai")

    # An inspector's phone stays logged in for a month; their mobile IP changes all day, hence "basic".
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SESSION_PROTECTION = "basic"
    # Login throttling (services/login_throttle.py): attempts per sliding window, per account and per address.
    LOGIN_THROTTLE_ACCOUNT_MAX = int(os.environ.get("LOGIN_THROTTLE_ACCOUNT_MAX", "5"))
    LOGIN_THROTTLE_ADDRESS_MAX = int(os.environ.get("LOGIN_THROTTLE_ADDRESS_MAX", "20"))
    LOGIN_THROTTLE_WINDOW_SECONDS = int(os.environ.get("LOGIN_THROTTLE_WINDOW_SECONDS", "900"))
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto; 0 trusts those headers from nobody.
    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session; a phone may sit offline for hours

    MAX_PHOTO_BYTES = int(os.environ.get("MAX_PHOTO_BYTES", str(15 * 1024 * 1024)))
    MAX_CONTENT_LENGTH = MAX_PHOTO_BYTES + 64 * 1024
    MAX_IMAGE_PIXELS = int(os.environ.get("MAX_IMAGE_PIXELS", str(60_000_000)))

    # Open311 GeoReport v2 (docs/deploy.md "Open311"): photo links stay valid this long (seconds);
    # a POSTed lat/long farther than this from every known site is refused.
    OPEN311_MEDIA_MAX_AGE = int(os.environ.get("OPEN311_MEDIA_MAX_AGE", str(3 * 24 * 3600)))
    OPEN311_MAX_SITE_DISTANCE_M = float(os.environ.get("OPEN311_MAX_SITE_DISTANCE_M", "3000"))
    OPEN311_CONTACT = os.environ.get("OPEN311_CONTACT", "")
    OPEN311_KEY_SERVICE = os.environ.get(
        "OPEN311_KEY_SERVICE", "API keys are bearer tokens of an integration account; ask the administrator.")

    # Logs: one JSON object per line by default; "text" for a developer's terminal.
    LOG_FORMAT = os.environ.get("LOG_FORMAT") or None
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

    # Chat-group notices (docs/admin.md). The address people open from a chat message; without it
    # messages carry no link.
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "")
    # Robot hosts the worker may post to; a private WeCom/DingTalk deployment adds its own.
    NOTICE_ALLOWED_HOSTS = tuple(h.strip() for h in os.environ.get(
        "NOTICE_ALLOWED_HOSTS", "qyapi.weixin.qq.com,oapi.dingtalk.com").split(",") if h.strip())
    NOTICE_MAX_ATTEMPTS = int(os.environ.get("NOTICE_MAX_ATTEMPTS", "8"))
    NOTICE_BACKOFF_SECONDS = int(os.environ.get("NOTICE_BACKOFF_SECONDS", "30"))

    TESTING = False


class DevelopmentConfig(Config):
    ENV_NAME = "development"


class TestConfig(Config):
    ENV_NAME = "test"
    PHOTO_STORE = "local"  # the test fixtures choose the backend themselves (STORAGE=s3, tests/s3_support.py)
    TESTING = True
    WTF_CSRF_ENABLED = True
    SECRET_KEY = "test-secret-key"
    DEMO_MODE = True


class ProductionConfig(Config):
    ENV_NAME = "production"
    DEMO_MODE = False
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE


CONFIGS: dict[str, type[Config]] = {"development": DevelopmentConfig, "production": ProductionConfig,
                                    "test": TestConfig}


def load_config(name: str | None = None) -> type[Config]:
    name = name or os.environ.get("XUNCHA_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"XUNCHA_ENV={name!r}: expected one of {', '.join(CONFIGS)}")
    return CONFIGS[name]


def finalise(config: dict) -> None:
    """Fill in what must be derived at start-up: the secret key rule differs by environment."""
    if not config.get("SECRET_KEY"):
        if config.get("ENV_NAME") == "production":
            raise RuntimeError("SECRET_KEY must be set in production")
        config["SECRET_KEY"] = _dev_secret_key()
    # SQLite creates the file but not its folder, and on a fresh clone instance/ does not exist yet.
    # Only our own default folder is created: a DATABASE_URL naming a missing folder stays an error.
    uri = config.get("SQLALCHEMY_DATABASE_URI") or ""
    if uri.startswith("sqlite:///") and Path(uri.removeprefix("sqlite:///")).parent == INSTANCE_DIR:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
