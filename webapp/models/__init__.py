"""All models, importable from one place (Alembic autogenerate needs them registered)."""
from .admin import AuditEvent, Notice, NoticeAttempt, NoticeStatus, Webhook, WebhookKind
from .categories import Category, DeadlineUnit, RoutesTo
from .findings import Event, Finding, FindingKind, PartyKind, Photo, PhotoKind, Status
from .places import Community, Site, SiteKind, Street, Zone
from .reporting import ReportDaily, ReportInspectorDaily, ReportRollupState
from .security import LoginAttempt
from .users import ApiToken, Role, User, UserRole, hash_token

__all__ = [
    "AuditEvent", "Notice", "NoticeAttempt", "NoticeStatus", "Webhook", "WebhookKind",
    "ApiToken", "Category", "Community", "DeadlineUnit", "Event", "Finding", "FindingKind", "PartyKind",
    "Photo", "PhotoKind", "ReportDaily", "ReportInspectorDaily", "ReportRollupState", "Role", "RoutesTo", "Site",
    "SiteKind", "Status", "Street", "User", "UserRole",
    "Zone", "hash_token",
]
