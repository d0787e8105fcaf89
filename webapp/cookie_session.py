"""The signed-cookie session, minus ``Vary: Cookie`` on files that are the same for everyone.

Since Flask 3.1.3 any touch of the session marks it accessed, and Flask-Login's after-request hook
touches it on every request, so every response — the shell's versioned, ``public, immutable`` files
included — went out with ``Vary: Cookie``. The browser then keeps one copy per cookie value and
revalidates after each login, and a shared cache cannot serve them at all. A response the app marked
public and immutable says it does not depend on who asked; unless the request changed the session
(which then must be saved), nothing about the session is written to it.
"""
from __future__ import annotations

from flask.sessions import SecureCookieSessionInterface


def is_shared_file(response) -> bool:
    cache = response.cache_control
    return bool(cache.public and cache.immutable)


class SessionInterface(SecureCookieSessionInterface):
    def save_session(self, app, session, response) -> None:
        if is_shared_file(response) and not session.modified:
            return
        super().save_session(app, session, response)
