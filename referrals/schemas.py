"""Referral input rules. The person section accepts only the minimum fields; anything else
(a date of birth, a student id, a diagnosis) is refused as an unknown field."""

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, StringConstraints, field_validator, model_validator

from directory.schemas import CategoryCodes, FieldError, Input
from referrals.models import Urgency

AGE_BANDS = ("under-5", "5-10", "11-13", "14-17", "18-24", "25+")
SHARABLE = ("name", "age_band", "language", "contact", "needs")
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Contact = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
Times = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class PersonInput(Input):
    name: Text = Field(description="a display name or initials")
    age_band: Literal["under-5", "5-10", "11-13", "14-17", "18-24", "25+"]
    preferred_language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] = "en"
    contact_method: Literal["phone", "text", "email", "school"]
    contact_value: Contact | None = None
    contact_times: Times | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.contact_method == "school":
            self.contact_value = None
            return self
        check_contact(self.contact_method, self.contact_value, "person.contact_value")
        return self


def check_contact(method: str, value: str | None, field: str) -> None:
    """A way back to a person: an email address for email, a phone number otherwise."""
    if not value:
        raise FieldError(field, f"needed to reach them by {method}")
    if method == "email":
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise FieldError(field, "must be an email address") from None
    elif (
        not all(c.isdigit() or c in " ()+-." for c in value) or sum(c.isdigit() for c in value) < 7
    ):
        raise FieldError(field, "must be a phone number")


class ConsentInput(Input):
    given_by: Literal["guardian", "student_18_plus", "student_school_policy"]
    method: Literal["verbal", "written", "electronic"]
    given_at: datetime
    shares: list[Literal["name", "age_band", "language", "contact", "needs"]] = Field(
        default_factory=lambda: list(SHARABLE), min_length=1
    )
    follow_up: bool = Field(
        default=False, description="agreed to one 'did you get help?' email after the referral"
    )

    @field_validator("given_at")
    @classmethod
    def _not_in_future(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("include a time zone, e.g. 2026-11-23T10:00:00Z")
        if value > datetime.now(value.tzinfo):
            raise ValueError("cannot be in the future")
        return value


class ReferralInput(Input):
    multiline = frozenset({"note"})
    service_id: UUID
    person: PersonInput
    needs: CategoryCodes = Field(min_length=1, max_length=10)
    urgency: Urgency = Urgency.ROUTINE
    due_at: datetime | None = None
    consent: ConsentInput | None = None
    draft: bool = False
    confirm_full: bool = False
    help_request_id: UUID | None = Field(
        default=None, description="the family's help request this referral answers"
    )
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _consent_before_sending(self) -> Self:
        if not self.draft and self.consent is None:
            raise FieldError("consent", "a referral cannot be sent without recorded consent")
        return self
