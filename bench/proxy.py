"""A stand-in for the production nginx between the browser and gunicorn: it compresses as docs/deploy.md
configures nginx to, and it counts every request and every byte it sends back.

Why not compress in the app: in production nginx compresses (docs/deploy.md), and a gunicorn worker's
CPU is the photo pipeline's; gzip in Flask would spend it twice for nothing. Why not measure
uncompressed: a phone never receives these files uncompressed. So the figure is what nginx would
send, and the rule is read from docs/deploy.md itself — ``gzip on``, ``gzip_types`` (text/html is
always compressed by nginx), ``gzip_comp_level`` (nginx's default 1 when the file does not set it),
``gzip_min_length`` (default 20) — so the benchmark follows the deployment document, not a guess.
"""
from __future__ import annotations

import gzip
import http.client
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .common import ROOT

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}


@dataclass(frozen=True)
class GzipRule:
    on: bool
    types: frozenset[str]
    level: int
    min_length: int

    @classmethod
    def from_deploy_doc(cls, path: Path = ROOT / "docs" / "deploy.md") -> GzipRule:
        text = path.read_text(encoding="utf-8") if path.exists() else ""

        def directive(name: str) -> str | None:
            found = re.search(rf"^\s*{name}\s+([^;]+);", text, re.MULTILINE)
            return found.group(1).strip() if found else None

        types = set((directive("gzip_types") or "").split()) | {"text/html"}
        return cls(on=directive("gzip") == "on", types=frozenset(types),
                   level=int(directive("gzip_comp_level") or 1), min_length=int(directive("gzip_min_length") or 20))

    def applies(self, content_type: str, accept_encoding: str, size: int, already: str | None) -> bool:
        mime = content_type.split(";", 1)[0].strip().lower()
        return (self.on and not already and "gzip" in accept_encoding.lower() and mime in self.types
                and size >= self.min_length)


@dataclass
class Hit:
    method: str
    path: str
    status: int
    content_type: str
    header_bytes: int
    body_bytes: int  # as sent: compressed when the rule applied
    raw_bytes: int  # the body as gunicorn sent it
    gzipped: bool
    body: bytes = b""  # gunicorn's body, kept for small text responses (to try other gzip levels)


class Proxy:
    def __init__(self, upstream_port: int, port: int, rule: GzipRule) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.rule = rule
        self.hits: list[Hit] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take(self) -> list[Hit]:
        """The requests since the last call."""
        with self.lock:
            hits, self.hits = self.hits, []
        return hits

    def start(self) -> Proxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # the hits are the log
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                finally:
                    upstream.close()
                ctype = response.getheader("Content-Type") or ""
                gzipped = self.command != "HEAD" and proxy.rule.applies(
                    ctype, self.headers.get("Accept-Encoding", ""), len(data), response.getheader("Content-Encoding"))
                out = gzip.compress(data, compresslevel=proxy.rule.level, mtime=0) if gzipped else data
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Vary", "Accept-Encoding")
                self.send_header("Content-Length", str(len(out)))
                header_bytes = sum(len(line) for line in self._headers_buffer) + 2
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)
                with proxy.lock:
                    proxy.hits.append(Hit(self.command, self.path, response.status, ctype, header_bytes, len(out),
                                          len(data), gzipped, data if gzipped else b""))

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the listening socket: the browser then gets "connection refused", as with no network."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
