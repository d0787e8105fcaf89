"""Login throttling: a sliding window of attempts per account and per client address.

Why attempts and not only failures: a failure is known only after the password hash is checked, so
a burst of parallel requests would all pass a "count failures first" gate. Each attempt is counted
and written under a lock on its keys and committed before the password is checked; of N parallel
requests exactly the limit get through, whichever worker or server they reach. A successful login
removes the account's attempts (the legitimate user starts afresh) but not the address's, so one
valid account cannot be used to reset the counter for guessing at others from the same address.

Refused requests are not recorded, so a user who keeps retrying during a lock-out does not extend it.
"""
from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text

from ..extensions import db
from ..models.mixins import utcnow
from ..models.security import LoginAttempt
from ..sqlite_tuning import write_intent

ACCOUNT, ADDRESS = "account", "address"


@dataclass(frozen=True)
class Limits:
    account_max: int = 5
    address_max: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(
            account_max=int(config.get("LOGIN_THROTTLE_ACCOUNT_MAX", cls.account_max)),
            address_max=int(config.get("LOGIN_THROTTLE_ADDRESS_MAX", cls.address_max)),
            window=timedelta(seconds=int(config.get("LOGIN_THROTTLE_WINDOW_SECONDS", cls.window.total_seconds()))),
        )


@dataclass
class Gate:
    """The outcome of ``begin``: either ``blocked`` (with seconds to wait) or the attempt rows to settle."""

    blocked: bool
    retry_after: int = 0
    account_key: str = ""
    attempt_ids: list[int] = field(default_factory=list)


def _key(secret: str, scope: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{scope}:{value}".encode(), hashlib.sha256).hexdigest()


def _normalise_username(username: str) -> str:
    return (username or "").strip().casefold()


def _retry_after(scope: str, key: str, limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until fewer than ``limit`` attempts remain in the window, or None when not over it."""
    times = list(db.session.scalars(
        select(LoginAttempt.at).where(
            LoginAttempt.scope == scope, LoginAttempt.key_hash == key, LoginAttempt.at > now - window
        ).order_by(LoginAttempt.at)
    ))
    if len(times) < limit:
        return None
    # Once the oldest (count - limit + 1) attempts have left the window, the count is below the limit.
    frees_at = times[len(times) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def _lock(keys: list[tuple[str, str, int]]) -> None:
    """Serialise attempts on the same keys, across workers and servers, for this transaction.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order so two keys never deadlock.
    SQLite: the transaction is begun with BEGIN IMMEDIATE (see ``sqlite_tuning.write_intent``), which
    already admits one writer at a time.
    """
    if db.session.get_bind().dialect.name != "postgresql":
        return
    for lock_id in sorted(int(key[:15], 16) for _, key, _ in keys):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


def begin(username: str, address: str | None, *, secret: str, limits: Limits = Limits(),
          now: datetime | None = None) -> Gate:
    """Record an attempt for ``username`` from ``address`` unless either is over its limit.

    Counting and recording happen under a lock on the keys and are committed before the password is
    checked, so of any number of parallel attempts exactly the limit get through.
    """
    now = now or utcnow()
    keys = [(ACCOUNT, _key(secret, ACCOUNT, _normalise_username(username)), limits.account_max)]
    if address:
        keys.append((ADDRESS, _key(secret, ADDRESS, address), limits.address_max))
    try:
        with write_intent():
            _lock(keys)
            waits = [w for scope, key, limit in keys
                     if (w := _retry_after(scope, key, limit, limits.window, now)) is not None]
            if waits:
                db.session.rollback()
                return Gate(blocked=True, retry_after=max(waits))
            # Old rows are of no use to any window; dropping them here keeps the table small without a cron.
            db.session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - limits.window))
            rows = [LoginAttempt(scope=scope, key_hash=key, at=now) for scope, key, _ in keys]
            db.session.add_all(rows)
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return Gate(blocked=False, account_key=keys[0][1], attempt_ids=[row.id for row in rows])


def succeeded(gate: Gate) -> None:
    """The password was right: forget the account's attempts and this attempt's address row."""
    if gate.blocked:
        return
    try:
        db.session.execute(delete(LoginAttempt).where(
            (LoginAttempt.scope == ACCOUNT) & (LoginAttempt.key_hash == gate.account_key)
        ))
        db.session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(gate.attempt_ids)))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
