"""The login views' side of throttling: which client is asking, and the 429 page.

The client address is ``request.remote_addr``. Behind a reverse proxy that is the proxy's address,
so ``TRUSTED_PROXY_COUNT`` (webapp/security.py installs werkzeug's ProxyFix with it) makes it the
address the proxy saw; without that setting X-Forwarded-For is ignored, since anyone can send it.
"""
from __future__ import annotations

import math

from flask import current_app, flash, render_template, request
from flask_babel import gettext as _

from ..services import login_throttle
from ..services.login_throttle import Gate, Limits


def begin_login(username: str) -> Gate:
    return login_throttle.begin(username, request.remote_addr, secret=current_app.config["SECRET_KEY"],
                                limits=Limits.from_config(current_app.config))


def login_succeeded(gate: Gate) -> None:
    login_throttle.succeeded(gate)


def refused(gate: Gate, form):
    """The login page again, with 429 and Retry-After; the message names no account."""
    minutes = max(1, math.ceil(gate.retry_after / 60))
    flash(_("登录尝试次数过多,请 %(minutes)d 分钟后再试。", minutes=minutes), "error")
    return render_template("auth/login.html", form=form), 429, {"Retry-After": str(gate.retry_after)}
