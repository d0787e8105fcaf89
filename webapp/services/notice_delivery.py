"""Posting one message to a group robot: the platforms' body formats, DingTalk signing, the HTTP call
and how to read the answer. No database here; ``notices`` owns the outbox around it.

Both platforms answer HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}`` on success and HTTP 200 with
a non-zero errcode on most failures (bad key, signature, keyword, rate limit), so success means
"200 and errcode 0" and everything else is recorded as the platform said it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import quote_plus

# What one message may carry. WeCom's group robot caps text content at 2048 bytes of UTF-8;
# DingTalk's cap is far higher, but a chat message longer than a phone screen or two goes unread.
BYTE_LIMITS = {"wecom": 2048, "dingtalk": 6000}


def body_for(kind: str, content: str) -> dict:
    """Both robots take the same plain-text shape; kept per kind so a platform change stays local."""
    return {"msgtype": "text", "text": {"content": content}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), as DingTalk's 加签 requires."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str | None, timestamp_ms: int | None = None) -> str:
    """DingTalk's URL with ``timestamp`` and ``sign``; the signature is valid for an hour, so it is
    made at each attempt rather than when the notice is queued."""
    if not secret:
        return url
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    sign = quote_plus(dingtalk_sign(secret, timestamp_ms))
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


def fits(kind: str, content: str) -> bool:
    return len(content.encode()) <= BYTE_LIMITS[kind]


def cut_to_bytes(text: str, limit: int) -> list[str]:
    """Last resort for a single line longer than a message: cut at line ends where possible,
    otherwise at a character boundary, never inside a UTF-8 sequence."""
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        while len(line.encode()) > limit:
            piece = line.encode()[:limit].decode(errors="ignore")
            parts.append(piece)
            line = line[len(piece):]
        current = line
    if current:
        parts.append(current)
    return parts


@dataclass
class Answer:
    ok: bool
    http_status: int | None = None
    errcode: int | None = None
    errmsg: str = ""
    error: str = ""
    duration_ms: int = 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A robot endpoint never redirects; following one would let a saved URL reach another host."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: dict, timeout: float) -> Answer:
    """POST the JSON body and read the platform's answer. Never raises; never puts the URL in ``error``."""
    data = json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    started = time.monotonic()
    status: int | None = None
    raw = b""
    error = ""
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = response.status
            raw = response.read(64 * 1024)
    except urllib.error.HTTPError as err:
        status = err.code
        try:
            raw = err.read(64 * 1024)
        except OSError:
            raw = b""
        err.close()
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        error = f"{type(err).__name__}: {reason}"[:300]
    duration = int((time.monotonic() - started) * 1000)
    return interpret(status, raw, error, duration)


def interpret(status: int | None, raw: bytes, error: str = "", duration_ms: int = 0) -> Answer:
    errcode: int | None = None
    errmsg = ""
    if raw:
        try:
            payload = json.loads(raw.decode("utf-8", errors="replace"))
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            code = payload.get("errcode")
            errcode = code if isinstance(code, int) else None
            errmsg = str(payload.get("errmsg", ""))[:300]
        elif not error:
            errmsg = raw[:200].decode("utf-8", errors="replace")
    ok = status == 200 and errcode == 0
    if not ok and not error:
        error = f"HTTP {status}" if status != 200 else f"errcode {errcode}"
    return Answer(ok=ok, http_status=status, errcode=errcode, errmsg=errmsg, error=error if not ok else "",
                  duration_ms=duration_ms)
