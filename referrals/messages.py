"""The words of each email (referral and listing notices), in the recipient's language.

Texts are gettext messages (English in the code, translations in `referrals/locales/*/
LC_MESSAGES/messages.po`, extracted with `pybabel extract -F babel.cfg`; `directory.i18n` reads
them straight from the .po files, no compile step). Emails name the service, the
organizations and a short reference, never the family: the details are behind the login.
"""

import gettext
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date

from directory.i18n import N_, best_language, catalog
from directory.i18n import languages as i18n_languages
from referrals.notify import Notice

LOCALES = Path(__file__).parent / "locales"


LABELS = {
    "routine": N_("routine"),
    "soon": N_("soon"),
    "urgent": N_("urgent"),
    "not_eligible": N_("not eligible"),
    "no_capacity": N_("no capacity"),
    "out_of_area": N_("out of area"),
    "could_not_contact": N_("could not contact the family"),
    "other": N_("other"),
    "service_provided": N_("service provided"),
    "partially_provided": N_("partially provided"),
    "family_declined": N_("family declined"),
    "could_not_reach": N_("could not reach the family"),
    "not_eligible_after_intake": N_("not eligible after intake"),
    "referred_elsewhere": N_("referred elsewhere"),
}
PROBLEM_LABELS = {
    "wrong_phone": N_("the phone number is wrong"),
    "wrong_address": N_("the address is wrong"),
    "wrong_hours": N_("the opening hours are wrong"),
    "closed": N_("the service has closed"),
    "moved": N_("the service has moved"),
    "other": N_("something else is wrong"),
}

STATUS_LABELS = {
    "draft": N_("draft"),
    "requested": N_("sent"),
    "received": N_("received"),
    "accepted": N_("accepted"),
    "in_progress": N_("in progress"),
    "on_hold": N_("on hold"),
    "completed": N_("completed"),
    "failed": N_("not completed"),
    "rejected": N_("declined"),
    "cancelled": N_("cancelled"),
}
SHARE_LABELS = {
    "name": N_("name or initials"),
    "age_band": N_("age"),
    "language": N_("language"),
    "contact": N_("contact details"),
    "needs": N_("needs"),
}
AGE_BAND_LABELS = {
    "under-5": N_("under 5"),
    "5-10": N_("5 to 10"),
    "11-13": N_("11 to 13"),
    "14-17": N_("14 to 17"),
    "18-24": N_("18 to 24"),
    "25+": N_("25 or older"),
}
CONTACT_LABELS = {
    "phone": N_("phone"),
    "text": N_("text message"),
    "email": N_("email"),
    "school": N_("through the school"),
}
CONSENT_LABELS = {
    "guardian": N_("a parent or guardian"),
    "student_18_plus": N_("the student (18 or older)"),
    "student_school_policy": N_("the student, under school policy"),
    "verbal": N_("verbally"),
    "written": N_("in writing"),
    "electronic": N_("electronically"),
}
EVENT_LABELS = {
    "note": N_("note"),
    "consent_withdrawn": N_("consent withdrawn"),
    "due_reminder": N_("reminder sent to the agency"),
    "due_escalation": N_("the school was told there is no response"),
    "stale_reminder": N_("reminder to update sent to the agency"),
    "stale_escalation": N_("the school was told there is no update"),
    "client_reported": N_("the family answered the follow-up"),
    "follow_up": N_("follow-up sent to the family"),
    "purge": N_("personal details removed"),
}
# What an audit entry records (caremap's own reads, and the timeline's writes by their kind).
AUDIT_LABELS = {
    "read": N_("opened the referral"),
    "list": N_("saw it in a list"),
    "export_fhir": N_("exported it (FHIR)"),
    "refused": N_("was refused a look"),
    "created": N_("made the referral"),
    "transition": N_("changed its status"),
    "purge": N_("personal details removed"),
    **EVENT_LABELS,
}
# Who a user is and what an organization or a listing is, on the admin and portal pages.
ACCOUNT_LABELS = {
    "specialist": N_("school specialist"),
    "partner": N_("agency staff"),
    "partner_admin": N_("agency admin"),
    "admin": N_("caremap admin"),
    "school": N_("school"),
    "provider": N_("agency"),
    "active": N_("active"),
    "inactive": N_("hidden (inactive)"),
    "temporarily_closed": N_("temporarily closed"),
    "defunct": N_("closed for good"),
}
MOVE_LABELS = {
    "requested": N_("Send the referral"),
    "received": N_("Mark as received"),
    "accepted": N_("Accept"),
    "rejected": N_("Decline"),
    "in_progress": N_("Start work"),
    "on_hold": N_("Put on hold"),
    "completed": N_("Complete"),
    "failed": N_("Close without service"),
    "cancelled": N_("Cancel the referral"),
}


def translations(language: str) -> gettext.NullTranslations:
    return catalog(LOCALES, language)


def languages() -> tuple[str, ...]:
    return i18n_languages(LOCALES)


def catalog_language(language: str | None) -> str:
    """The catalog that speaks `language` (a person's preferred language, a page's), or English."""
    return best_language(language, languages()) or "en"


@dataclass(frozen=True)
class Facts:
    """What an email may say about a referral: nothing about the person referred."""

    reference: str
    service: str
    agency: str
    school: str
    urgency: str
    due_at: datetime | None
    reason: str | None
    outcome: str | None
    stale_days: int
    link_days: int


@dataclass(frozen=True)
class ListingFacts:
    """What a listing notice may say: the listing, why, and never who reported a problem."""

    service: str
    organization: str
    stale_on: datetime
    stale_days: int
    signals: dict[str, int]
    problem: str | None


@dataclass(frozen=True)
class Message:
    language: str
    subject: str
    paragraphs: list[str]
    action: str
    footer: str


def compose(notice: Notice, facts: Facts, language: str, time_zone: str = "UTC") -> Message:
    locale = catalog_language(language)
    _ = translations(locale).gettext

    def label(code: str | None) -> str:
        return _(LABELS[code]) if code in LABELS else (code or "")

    due = (
        format_date(facts.due_at.astimezone(ZoneInfo(time_zone)), "long", locale=locale)
        if facts.due_at
        else ""
    )
    values = {
        "reference": facts.reference,
        "service": facts.service,
        "agency": facts.agency,
        "school": facts.school,
        "urgency": label(facts.urgency),
        "due": due,
        "reason": label(facts.reason),
        "outcome": label(facts.outcome),
        "days": facts.stale_days,
    }
    staff_footer = _(
        "For privacy, this email has no details about the family. Sign in to caremap to see "
        "the referral."
    )
    open_it = _("Open the referral")
    texts: dict[Notice, tuple[str, list[str]]] = {
        Notice.NEW_REFERRAL: (
            _("New referral %(reference)s for %(service)s"),
            [
                _("%(school)s sent a new referral to %(service)s."),
                _("Urgency: %(urgency)s. Please make first contact by %(due)s."),
            ],
        ),
        Notice.ACCEPTED: (
            _("Referral %(reference)s accepted"),
            [_("%(agency)s accepted your referral to %(service)s.")],
        ),
        Notice.REJECTED: (
            _("Referral %(reference)s declined"),
            [
                _("%(agency)s declined your referral to %(service)s."),
                _("Reason: %(reason)s."),
            ],
        ),
        Notice.COMPLETED: (
            _("Referral %(reference)s completed"),
            [
                _("%(agency)s completed your referral to %(service)s."),
                _("Outcome: %(outcome)s."),
            ],
        ),
        Notice.FAILED: (
            _("Referral %(reference)s closed without service"),
            [
                _("%(agency)s could not deliver %(service)s for your referral."),
                _("Outcome: %(outcome)s."),
            ],
        ),
        Notice.DUE_REMINDER: (
            _("Reminder: referral %(reference)s is waiting for you"),
            [
                _(
                    "The referral to %(service)s was due for first contact on %(due)s and has "
                    "no response yet."
                )
            ],
        ),
        Notice.DUE_ESCALATION: (
            _("No response yet on referral %(reference)s"),
            [
                _(
                    "%(agency)s has not responded to your referral to %(service)s, due "
                    "%(due)s. You may want to call them or refer the family elsewhere."
                )
            ],
        ),
        Notice.STALE_REMINDER: (
            _("Reminder: update referral %(reference)s"),
            [
                _(
                    "The referral to %(service)s has had no update for %(days)s days. Please "
                    "record where it stands."
                )
            ],
        ),
        Notice.STALE_ESCALATION: (
            _("No update on referral %(reference)s"),
            [_("%(agency)s has not updated your referral to %(service)s for %(days)s days.")],
        ),
        Notice.FAMILY_NO_HELP: (
            _("Referral %(reference)s: the family says they did not get help"),
            [
                _(
                    "The family answered our follow-up question: they did not get the help "
                    "they needed from %(service)s."
                )
            ],
        ),
    }
    if notice is Notice.FOLLOW_UP:
        # The family's email may be read by others: it names no service and no school.
        return Message(
            language=locale,
            subject=_("Did you get the help you needed?"),
            paragraphs=[
                _(
                    "A little while ago, your school connected you with a service in your "
                    "community. Did you get the help you needed?"
                ),
                _("Tell us with one click. Your answer helps your school help other families."),
            ],
            action=_("Answer the question"),
            footer=_(
                "You are getting this because you agreed to one follow-up message. The link "
                "works for %(days)s days."
            )
            % {"days": facts.link_days},
        )
    subject, paragraphs = texts[notice]
    return Message(
        language=locale,
        subject=subject % values,
        paragraphs=[p % values for p in paragraphs],
        action=open_it,
        footer=staff_footer,
    )


def compose_listing(notice: Notice, facts: ListingFacts, language: str) -> Message:
    """A listing notice to the organization that runs the listing (or to the admins)."""
    locale = catalog_language(language)
    _ = translations(locale).gettext
    values = {
        "service": facts.service,
        "organization": facts.organization,
        "date": format_date(facts.stale_on, "long", locale=locale),
        "days": facts.stale_days,
        "problem": _(PROBLEM_LABELS[facts.problem]) if facts.problem in PROBLEM_LABELS else "",
        "signals": ", ".join(
            f"{_(LABELS[code]) if code in LABELS else code}: {count}"
            for code, count in facts.signals.items()
        ),
    }
    verify = _(
        "If it is still accurate, confirm it with one click; otherwise correct it. Either "
        "way it counts as verified for another %(days)s days."
    )
    texts: dict[Notice, tuple[str, list[str]]] = {
        Notice.LISTING_STALE_SOON: (
            _("Please check your listing: %(service)s"),
            [
                _(
                    "Nobody has confirmed the listing %(service)s for a while. On %(date)s it "
                    "will be marked as not recently verified, and it will show lower in "
                    "searches."
                ),
                verify,
            ],
        ),
        Notice.LISTING_STALE: (
            _("Your listing is no longer marked as verified: %(service)s"),
            [
                _(
                    "The listing %(service)s has not been confirmed in %(days)s days. Families "
                    "and school staff now see that it may be out of date, and it shows lower "
                    "in searches."
                ),
                verify,
            ],
        ),
        Notice.LISTING_FLAGGED: (
            _("Please re-verify your listing: %(service)s"),
            [
                _(
                    "Several recent referrals to %(service)s ended without service for the "
                    "same kinds of reasons (%(signals)s). The listing may say something that "
                    "is no longer true, such as its capacity, phone number or who is eligible."
                ),
                verify,
            ],
        ),
        Notice.PROBLEM_REPORTED: (
            _("A problem was reported with your listing: %(service)s"),
            [
                _("Someone using caremap reported that %(problem)s for %(service)s."),
                _("Please check the listing and mark the report as resolved."),
            ],
        ),
        Notice.PROBLEM_REPORTED_ADMINS: (
            _("Problem reported: %(service)s (%(organization)s)"),
            [
                _("Someone using caremap reported that %(problem)s for %(service)s."),
                _("The organization was told. The report stays open until it is resolved."),
            ],
        ),
    }
    subject, paragraphs = texts[notice]
    return Message(
        language=locale,
        subject=subject % values,
        paragraphs=[p % values for p in paragraphs],
        action=_("Open the listing")
        if notice is not Notice.PROBLEM_REPORTED_ADMINS
        else _("Open the problem reports"),
        footer=_("You get this email because your organization runs this listing on caremap.")
        if notice is not Notice.PROBLEM_REPORTED_ADMINS
        else _("You get this email because you are a caremap admin."),
    )


def follow_up_page(language: str) -> dict[str, str]:
    """The words of the page the family's follow-up link opens."""
    _ = translations(catalog_language(language)).gettext
    return {
        "title": _("Did you get the help you needed?"),
        "intro": _(
            "Your school connected you with a service in your community. Did you get the "
            "help you needed?"
        ),
        "yes": _("Yes, I got help"),
        "partly": _("I got some help"),
        "no": _("No, I did not get help"),
        "thanks": _("Thank you. We have your answer."),
        "change": _("If that is not right, you can change your answer:"),
        "no_help": _(
            "We are sorry. Your school contact will be told, so they can help you find "
            "another service."
        ),
    }


def label_helpers(language: str) -> dict[str, Callable[[str | None], str]]:
    """Page helpers that name statuses, moves, reasons, outcomes and problems in `language`."""
    _ = translations(catalog_language(language)).gettext

    def lookup(table: dict[str, str]) -> Callable[[str | None], str]:
        return lambda code: _(table[code]) if code in table else (code or "")

    return {
        "label": lookup(LABELS),
        "status_label": lookup(STATUS_LABELS),
        "move_label": lookup(MOVE_LABELS),
        "share_label": lookup(SHARE_LABELS),
        "problem_label": lookup(PROBLEM_LABELS),
        "contact_label": lookup(CONTACT_LABELS),
        "age_band_label": lookup(AGE_BAND_LABELS),
        "consent_label": lookup(CONSENT_LABELS),
        "event_label": lookup(EVENT_LABELS),
        "audit_label": lookup(AUDIT_LABELS),
        "account_label": lookup(ACCOUNT_LABELS),
    }
