"""gunicorn settings for the shipped server (`make run`) and production (docs/deploy.md).

Every value can be overridden on the command line or by gunicorn's GUNICORN_CMD_ARGS.
"""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"

# Worker model. Photo ingest is CPU-bound: one worker process per core. Decoding, resizing and (since
# images.save_jpeg writes into a memory file) JPEG encoding run outside the GIL, so the threads of one
# worker can use a second core when the keep-alive connections land unevenly on the workers. `gthread` adds threads to each worker, and that is what uploads need: a phone on one bar
# of signal trickles a 3 MB photo in over tens of seconds while its thread mostly waits on the socket,
# so the other threads keep serving. A `sync` worker would be blocked for the whole upload (that
# model assumes a buffering proxy and fast clients); async workers (gevent/eventlet) would need
# every library — psycopg, boto3, Pillow — to cooperate with monkey-patching. Behind nginx the body
# is buffered first (docs/deploy.md), so threads then mostly cover database and storage waits.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# workers × threads is the most database connections one server can want at once: keep
# DB_POOL_SIZE + DB_MAX_OVERFLOW ≥ threads, and the sum over servers below PostgreSQL's
# max_connections (docs/deploy.md, "Connection pool").

# Timeouts. With gthread, `timeout` is the arbiter's heartbeat limit for a worker's main loop, not a
# per-request limit: a worker whose main loop has not checked in for 120 s is considered hung and is
# killed (and all its in-flight requests with it). Requests themselves are bounded by the client
# and by nginx's proxy/client timeouts. 120 s leaves room for a large photo's resize and watermark
# on a busy core, but never forever.
timeout = 120
# On SIGTERM (deploy, scale-down) workers get this long to finish in-flight uploads before they are
# killed; a phone whose upload is cut retries from its outbox, so this only saves a resend.
graceful_timeout = 30
# Idle keep-alive connections are parked in the worker's main loop, not a thread; 5 s covers the
# burst of one sync (session, photos, findings) without holding sockets for idle phones.
keepalive = 5
# The heartbeat file is touched every second; on tmpfs that never stalls on a slow or full disk.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# gunicorn's runtime control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), so
# two instances on one host (blue/green deploys, the two-server test) would take it from each other.
# Nothing here uses `gunicornc`: off unless a path is given.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET")
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True

errorlog = "-"
# The app writes one structured line per request (webapp/logging_setup.py) with the request id,
# user and timing, so gunicorn's own access line would only repeat it unstructured: it is kept for
# LOG_FORMAT=text (a developer's terminal) and dropped otherwise.
_log_format = os.environ.get("LOG_FORMAT") or "json"
accesslog = "-" if _log_format == "text" else None
if _log_format == "json":
    # gunicorn's own messages (worker boot, timeouts, signals) in the same JSON shape as the app's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": []},
        "formatters": {"json": {"()": "webapp.logging_setup.JsonFormatter"}},
        "handlers": {"json_stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                     "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
    }
