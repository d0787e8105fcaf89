"""The one place that decides which findings and places a user may see.

Every list, page, export and API call filters through these functions; no view filters by hand.
A user with several roles sees the union of what each role allows.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from .models import Community, Finding, Role, Site, Street, User

ALL_SEEING = (Role.desk, Role.admin)


def _active(user) -> bool:
    """Anonymous and disabled users see nothing, whatever roles they still hold."""
    return user is not None and getattr(user, "is_authenticated", False) and not user.disabled


def sees_everything(user: User) -> bool:
    return _active(user) and user.has_role(*ALL_SEEING)


def finding_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause over ``Finding`` limiting rows to what ``user`` may see."""
    if not _active(user):
        return false()
    if sees_everything(user):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if user.has_role(Role.inspector):
        clauses.append(Finding.inspector_id == user.id)
    if user.has_role(Role.community) and user.communities:
        ids = [c.id for c in user.communities]
        clauses.append(or_(Finding.community_id.in_(ids), Finding.party_community_id.in_(ids)))
    if user.has_role(Role.manager) and user.sites:
        ids = [s.id for s in user.sites]
        clauses.append(or_(Finding.site_id.in_(ids), Finding.party_site_id.in_(ids)))
    if user.has_role(Role.leader) and user.streets:
        street_ids = [s.id for s in user.streets]
        clauses.append(
            Finding.community_id.in_(select(Community.id).where(Community.street_id.in_(street_ids)))
        )
    return or_(*clauses) if clauses else false()


def can_see_finding(user: User, finding: Finding) -> bool:
    """The same rule as ``finding_filter`` for a row already loaded (keeps the two in one module)."""
    if not _active(user):
        return False
    if sees_everything(user):
        return True
    if user.has_role(Role.inspector) and finding.inspector_id == user.id:
        return True
    if user.has_role(Role.community):
        ids = {c.id for c in user.communities}
        if finding.community_id in ids or finding.party_community_id in ids:
            return True
    if user.has_role(Role.manager):
        ids = {s.id for s in user.sites}
        if finding.site_id in ids or finding.party_site_id in ids:
            return True
    if user.has_role(Role.leader):
        if finding.community.street_id in {s.id for s in user.streets}:
            return True
    return False


def community_filter(user: User) -> ColumnElement[bool]:
    """Communities a user works in: pick lists, reports and dashboards use this.

    Inspectors patrol anywhere, so capture pick lists show every community to them.
    """
    if not _active(user):
        return false()
    if user.has_role(*ALL_SEEING, Role.inspector):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if user.has_role(Role.community) and user.communities:
        clauses.append(Community.id.in_([c.id for c in user.communities]))
    if user.has_role(Role.manager) and user.sites:
        clauses.append(Community.id.in_([s.community_id for s in user.sites]))
    if user.has_role(Role.leader) and user.streets:
        clauses.append(Community.street_id.in_([s.id for s in user.streets]))
    return or_(*clauses) if clauses else false()


def site_filter(user: User) -> ColumnElement[bool]:
    if not _active(user):
        return false()
    if user.has_role(*ALL_SEEING, Role.inspector):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if user.has_role(Role.manager) and user.sites:
        clauses.append(Site.id.in_([s.id for s in user.sites]))
    if user.has_role(Role.community) and user.communities:
        clauses.append(Site.community_id.in_([c.id for c in user.communities]))
    if user.has_role(Role.leader) and user.streets:
        clauses.append(
            Site.community_id.in_(
                select(Community.id).where(Community.street_id.in_([s.id for s in user.streets]))
            )
        )
    return or_(*clauses) if clauses else false()


def street_filter(user: User) -> ColumnElement[bool]:
    if not _active(user):
        return false()
    if user.has_role(*ALL_SEEING, Role.inspector):
        return true()
    return Street.id.in_(select(Community.street_id).where(community_filter(user)))


def whole_community_filter(user: User) -> ColumnElement[bool]:
    """Communities every one of whose findings the user may see (a WHERE clause over ``Community``).

    Per-community aggregates (the dashboard's rollup) may only be shown for these: an inspector's own
    findings or a manager's market make part of a community visible, never the whole of it, so
    they add nothing here (``community_filter`` is wider on purpose: it feeds pick lists).
    """
    if not _active(user):
        return false()
    if sees_everything(user):
        return true()
    clauses: list[ColumnElement[bool]] = []
    if user.has_role(Role.leader) and user.streets:
        clauses.append(Community.street_id.in_([s.id for s in user.streets]))
    if user.has_role(Role.community) and user.communities:
        clauses.append(Community.id.in_([c.id for c in user.communities]))
    return or_(*clauses) if clauses else false()


# --- Open311: what partner platforms see without a login --------------------------------------------

# The desk's acceptance (立案) is what makes a finding public; submitted, rejected and duplicate ones,
# and "ok" site checks, never are.
PUBLIC_STATUSES = ("accepted", "dispatched", "acknowledged", "disputed", "rectified", "verified")


def public_finding_filter() -> ColumnElement[bool]:
    """A WHERE clause over ``Finding`` for the Open311 endpoint (anyone, no login)."""
    return and_(Finding.kind == "problem", Finding.status.in_(PUBLIC_STATUSES))


def is_public_finding(finding: Finding) -> bool:
    return finding.kind == "problem" and finding.status in PUBLIC_STATUSES
