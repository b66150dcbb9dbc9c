"""The referral inbox: what a specialist, an agency's intake worker or an admin works from all
day. Paged with its total (never cut off), ordered by what needs the viewer now, with tabs and
their counts, filters, a search by name or reference, and unread activity.

Everything is a query over the caller's view (`access.visible_referrals`), so what a list may
show is decided in one place; the name search looks only at names the viewer may see.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from starlette.requests import Request
from tortoise.expressions import Case, F, Q, Value, When
from tortoise.functions import Count
from tortoise.query_utils import Prefetch
from tortoise.queryset import QuerySet

from directory.access import require_actor
from directory.actor import Actor, Role
from directory.claims import now as _now
from directory.errors import Invalid
from directory.http import query_datetime, query_int, query_uuid
from directory.models import Service
from referrals import access, audit
from referrals.lifecycle import ENDED, FINAL, WAITING, WORKING, Party
from referrals.models import Referral, ReferralStatus, Urgency

RECENTLY_CLOSED_DAYS = 30
MAX_PER_PAGE = 100
_REFERENCE = re.compile(r"^[0-9a-fA-F]{4,8}$")


class Tab(StrEnum):
    NOW = "now"  # what needs me now: the default
    NEW = "new"  # sent and not yet answered (the agency's)
    ACTION = "action"  # declined, unanswered past due, an outcome to review, a draft (the school's)
    OVERDUE = "overdue"
    ACTIVE = "active"
    DRAFTS = "drafts"
    CLOSED = "closed"
    ALL = "all"


class Sort(StrEnum):
    PRIORITY = "priority"  # the tab's own order: what needs me first
    DUE = "due"
    UPDATED = "updated"
    CREATED = "created"


# The tabs each side sees, in order.
TABS = {
    Party.RECEIVER: (Tab.NOW, Tab.NEW, Tab.OVERDUE, Tab.ACTIVE, Tab.CLOSED, Tab.ALL),
    Party.REFERRER: (Tab.NOW, Tab.ACTION, Tab.ACTIVE, Tab.DRAFTS, Tab.CLOSED, Tab.ALL),
    None: (Tab.NOW, Tab.NEW, Tab.OVERDUE, Tab.ACTIVE, Tab.CLOSED, Tab.ALL),  # admins
}
DUE = ("overdue", "today", "week")


@dataclass(frozen=True)
class InboxQuery:
    tab: Tab = Tab.NOW
    sort: Sort = Sort.PRIORITY
    q: str | None = None
    status: ReferralStatus | None = None
    service_id: UUID | None = None
    urgency: Urgency | None = None
    school_id: UUID | None = None
    agency_id: UUID | None = None
    due: str | None = None
    unread: bool = False
    created_after: datetime | None = None
    created_before: datetime | None = None
    page: int = 1
    per_page: int = 25


@dataclass
class Inbox:
    referrals: list[Referral]
    total: int
    counts: dict[str, int]
    side: Party | None
    overdue_ids: set[UUID] = field(default_factory=set)


def side_of(actor: Actor) -> Party | None:
    """Which side's inbox the actor works: an agency's, a school's, or (admins) the district's."""
    if actor.role in (Role.PARTNER, Role.PARTNER_ADMIN):
        return Party.RECEIVER
    if actor.role is Role.SPECIALIST:
        return Party.REFERRER
    return None


def parse_query(request: Request, *, tab: Tab = Tab.NOW, sort: Sort = Sort.PRIORITY) -> InboxQuery:
    """An inbox query from the request's parameters (`tab` and `sort` when they name none),
    read with the API's own parameter readers, or `Invalid` naming every bad one at once."""
    params = request.query_params
    errors: dict[str, str] = {}

    def read(reader: Any, *args: Any) -> Any:
        try:
            return reader(request, *args)
        except Invalid as refused:
            errors.update(refused.fields)
            return None

    def choice(name: str, kind: type, default: Any = None) -> Any:
        raw = params.get(name) or None
        if raw is None:
            return default
        try:
            return kind(raw)
        except ValueError:
            errors[name] = f"one of {', '.join(str(v.value) for v in kind)}"  # type: ignore[attr-defined]
            return default

    def flag(name: str) -> bool:
        return str(params.get(name, "")).lower() in ("1", "true", "yes")

    due = params.get("due") or None
    if due is not None and due not in DUE:
        errors["due"] = f"one of {', '.join(DUE)}"
    text = (params.get("q") or "").strip() or None
    if text is not None and len(text) > 100:
        errors["q"] = "at most 100 characters"
    query = InboxQuery(
        tab=choice("tab", Tab, tab),
        sort=choice("sort", Sort, sort),
        q=text,
        status=choice("status", ReferralStatus),
        service_id=read(query_uuid, "service_id"),
        urgency=choice("urgency", Urgency),
        school_id=read(query_uuid, "school_id"),
        agency_id=read(query_uuid, "agency_id"),
        due="overdue" if flag("overdue") else due,
        unread=flag("unread"),
        created_after=read(query_datetime, "created_after"),
        created_before=read(query_datetime, "created_before"),
        page=read(query_int, "page", 1, 1, 10_000) or 1,
        per_page=read(query_int, "per_page", 25, 1, MAX_PER_PAGE) or 25,
    )
    if errors:
        raise Invalid(errors)
    return query


def overdue_at(now: datetime, stale_days: int = 14) -> Q:
    """Referrals overdue at `now`: not answered by their due date, or taken on and then not
    updated for `stale_days`."""
    return Q(status__in=WAITING, due_at__lt=now) | Q(
        status__in=WORKING, updated_at__lt=now - timedelta(days=stale_days)
    )


def _needs_action(now: datetime) -> Q:
    """The school's to-do: a decline or an outcome it has not opened, a referral unanswered
    past its due date, a draft not yet sent."""
    return (
        Q(status__in=(ReferralStatus.REJECTED, *ENDED), referrer_unread=True)
        | Q(status__in=WAITING, due_at__lt=now)
        | Q(status=ReferralStatus.DRAFT)
    )


def _tab_filter(tab: Tab, side: Party | None, now: datetime, stale_days: int) -> Q | None:
    recently = now - timedelta(days=RECENTLY_CLOSED_DAYS)
    if tab is Tab.NOW:
        if side is Party.REFERRER:
            return ~Q(status__in=FINAL) | Q(last_activity_at__gte=recently) | _needs_action(now)
        return ~Q(status__in=FINAL)
    return {
        Tab.NEW: Q(status=ReferralStatus.REQUESTED),
        Tab.ACTION: _needs_action(now),
        Tab.OVERDUE: overdue_at(now, stale_days),
        # The agency's active work leaves out the new ones, which have a tab of their own.
        Tab.ACTIVE: Q(status__in=(ReferralStatus.RECEIVED, *WORKING))
        if side is Party.RECEIVER
        else Q(status__in=(*WAITING, *WORKING)),
        Tab.DRAFTS: Q(status=ReferralStatus.DRAFT),
        Tab.CLOSED: Q(status__in=FINAL),
        Tab.ALL: None,
    }[tab]


def _priority(side: Party | None, now: datetime, stale_days: int) -> Case:
    """What needs the viewer first. The agency: new referrals, then overdue ones, then the
    rest it is working, then closed. The school: what needs action, then active, then closed."""
    # The ranks are one-character texts: PostgreSQL's driver types a CASE's values from the
    # first one bound, and text orders "0" < "1" < "2" < "3" as numbers would.
    if side is Party.REFERRER:
        return Case(
            When(_needs_action(now), then="0"),
            When(~Q(status__in=FINAL), then="1"),
            default="2",
        )
    return Case(
        When(Q(status=ReferralStatus.REQUESTED), then="0"),
        When(overdue_at(now, stale_days), then="1"),
        When(~Q(status__in=FINAL), then="2"),
        default="3",
    )


def _due_order() -> Case:
    """Within a rank, open referrals come by due date; closed ones share one key, so the most
    recently active comes first ("recently closed" is newest first, not oldest due)."""
    return Case(When(Q(status__in=FINAL), then=Value(SAME_DUE)), default=F("due_at"))


SAME_DUE = datetime(2000, 1, 1, tzinfo=UTC)
ORDER = {
    Sort.PRIORITY: ("priority", "due_order", "-last_activity_at", "id"),
    Sort.DUE: ("due_at", "id"),
    Sort.UPDATED: ("-last_activity_at", "id"),
    Sort.CREATED: ("-created_at", "id"),
}


def _filtered(
    actor: Actor, query: InboxQuery, side: Party | None, now: datetime, stale_days: int
) -> QuerySet[Referral]:
    found = access.visible_referrals(actor)
    if query.status is not None:
        found = found.filter(status=query.status)
    if query.service_id is not None:
        found = found.filter(service_id=query.service_id)
    if query.urgency is not None:
        found = found.filter(urgency=query.urgency)
    if query.school_id is not None:
        found = found.filter(referring_organization_id=query.school_id)
    if query.agency_id is not None:
        found = found.filter(receiving_organization_id=query.agency_id)
    if query.created_after is not None:
        found = found.filter(created_at__gte=query.created_after)
    if query.created_before is not None:
        found = found.filter(created_at__lt=query.created_before)
    if query.due == "overdue":
        found = found.filter(overdue_at(now, stale_days))
    elif query.due in ("today", "week"):
        until = now + timedelta(days=1 if query.due == "today" else 7)
        found = found.filter(status__in=WAITING, due_at__lt=until)
    if query.unread:
        found = found.filter(**_unread_of(actor, side))
    if query.q:
        found = found.filter(_matching(query.q, side))
    return found


def _matching(text: str, side: Party | None) -> Q:
    """A short reference, or a name: the agency finds a person only by a name it may see."""
    by_name = Q(person_name__icontains=text)
    if side is Party.RECEIVER:
        by_name &= Q(name_shared=True)
    if _REFERENCE.match(text):
        return Q(reference__startswith=text.upper()) | by_name
    return by_name


def _unread_of(actor: Actor, side: Party | None) -> dict[str, Any]:
    """The viewer's unread referrals: the agency's side, a specialist's own referrals."""
    if side is Party.RECEIVER:
        return {"receiver_unread": True}
    if side is Party.REFERRER:
        return {"referrer_unread": True, "referring_user_id": actor.user_id}
    return {"receiver_unread": True, "referrer_unread": True}


async def inbox(
    *, actor: Actor | None, query: InboxQuery, stale_days: int = 14, at: datetime | None = None
) -> Inbox:
    """One page of the caller's referrals and every tab's count (one query for all counts).
    The page's referrals are audited as a list read."""
    actor = require_actor(actor)
    now = at or _now()
    side = side_of(actor)
    if query.tab not in TABS[side]:
        raise Invalid({"tab": f"one of {', '.join(tab.value for tab in TABS[side])}"})
    filtered = _filtered(actor, query, side, now, stale_days)
    counted = await filtered.annotate(
        **{
            tab.value: Count("id", _filter=condition)
            if (condition := _tab_filter(tab, side, now, stale_days)) is not None
            else Count("id")
            for tab in TABS[side]
        }
    ).values(*(tab.value for tab in TABS[side]))
    counts = {name: int(number or 0) for name, number in counted[0].items()}
    tab = _tab_filter(query.tab, side, now, stale_days)
    listed = filtered.filter(tab) if tab is not None else filtered
    # The page's ids first, ordered from the index alone; then only those rows in full.
    ids = await (
        listed.annotate(priority=_priority(side, now, stale_days), due_order=_due_order())
        .order_by(*ORDER[query.sort])
        .offset((query.page - 1) * query.per_page)
        .limit(query.per_page)
        .values_list("id", flat=True)
    )
    rows = await Referral.filter(id__in=ids).prefetch_related(
        Prefetch("service", queryset=Service.all().only("id", "name")), "consent"
    )
    by_id = {r.id: r for r in rows}
    page = [by_id[i] for i in ids]
    await audit.record(actor, ids, audit.Action.LIST)
    overdue = {r.id for r in page if is_overdue(r, now, stale_days)}
    return Inbox(list(page), counts[query.tab.value], counts, side, overdue)


def is_overdue(referral: Referral, now: datetime, stale_days: int = 14) -> bool:
    """`overdue_at` for one referral already read."""
    if referral.status in WAITING:
        return referral.due_at is not None and referral.due_at < now
    return referral.status in WORKING and referral.updated_at < now - timedelta(days=stale_days)


def is_unread(actor: Actor, referral: Referral) -> bool:
    """Whether the referral has activity the viewer's side has not opened (admins: either)."""
    party = access.party_of(actor, referral)
    if party is Party.RECEIVER:
        return referral.receiver_unread
    if party is Party.REFERRER:
        return referral.referrer_unread
    return referral.receiver_unread or referral.referrer_unread


async def unread_count(actor: Actor) -> int:
    """How many of the viewer's referrals have activity they have not opened (the header's
    count on every page)."""
    side = side_of(actor)
    return await access.visible_referrals(actor).filter(**_unread_of(actor, side)).count()


async def mark_seen(actor: Actor, referral: Referral) -> None:
    """Someone of one side opened the referral: its new activity is seen for that side."""
    party = access.party_of(actor, referral)
    if party is Party.RECEIVER and referral.receiver_unread:
        await Referral.filter(id=referral.id).update(receiver_unread=False)
    elif party is Party.REFERRER and referral.referrer_unread:
        await Referral.filter(id=referral.id).update(referrer_unread=False)
