"""gunicorn settings for the shipped server (`make run`)."""
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# Photo ingest is CPU-bound (Pillow releases the GIL only in parts): one sync worker per core,
# plus threads so a slow phone upload does not hold a whole worker.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Uploads on one bar of signal are slow; give them time, but never forever.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
