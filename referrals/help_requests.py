"""Help requests: a family or student asks their school for help from the public site, without
an account, and the school's specialists see it in their workspace and act on it.

Only the school's specialists (and admins) read them. An anonymous request has no contact
details; otherwise there is exactly one way back (phone, text or email), as little as needed.
"""

from typing import Annotated, Any, Literal, Self
from uuid import UUID, uuid4

from pydantic import Field, StringConstraints, model_validator

from directory.access import require_actor
from directory.actor import Actor, Role
from directory.errors import Forbidden, Invalid, NotFound
from directory.models import Organization, OrganizationKind
from directory.schemas import FieldError, Input, validate
from directory.taxonomy import BY_CODE
from referrals.models import HelpRequest, HelpRequestStatus
from referrals.schemas import check_contact


class HelpRequestInput(Input):
    multiline = frozenset({"message"})
    school_id: UUID
    need: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    preferred_language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}$")] = "en"
    anonymous: bool = False
    contact_method: Literal["phone", "text", "email"] | None = None
    contact_value: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None
    ) = None
    message: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = (
        Field(default=None, description="optional: what kind of help, in a few words")
    )

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        if self.need not in BY_CODE:
            raise FieldError("need", "choose one of the listed needs")
        if self.anonymous:
            self.contact_method = self.contact_value = None
            return self
        if self.contact_method is None:
            raise FieldError("contact_method", "choose how to reach you, or ask anonymously")
        check_contact(self.contact_method, self.contact_value, "contact_value")
        return self


async def schools() -> list[Organization]:
    return list(await Organization.filter(kind=OrganizationKind.SCHOOL).order_by("name"))


async def create_help_request(data: Any) -> HelpRequest:
    """Anyone may ask; the school must be one of caremap's school organizations."""
    validated = validate(HelpRequestInput, data)
    if not await Organization.exists(id=validated.school_id, kind=OrganizationKind.SCHOOL):
        raise Invalid({"school_id": "choose your school from the list"})
    return await HelpRequest.create(
        id=uuid4(),
        school_organization_id=validated.school_id,
        need=validated.need,
        preferred_language=validated.preferred_language,
        contact_method=validated.contact_method,
        contact_value=validated.contact_value,
        message=validated.message,
    )


def _require_school_staff(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if actor.role not in (Role.SPECIALIST, Role.ADMIN):
        raise Forbidden("Help requests are for the school's specialists.")
    return actor


async def list_help_requests(
    *, actor: Actor | None, status: str = "new", page: int = 1, per_page: int = 50
) -> tuple[list[HelpRequest], int]:
    """One page of the school's waiting requests, oldest first, and how many there are in
    all: a busy school's list goes on to the next page, never stops."""
    actor = _require_school_staff(actor)
    if not 1 <= page <= 10_000:
        raise Invalid({"page": "a whole number from 1 to 10000"})
    query = HelpRequest.filter(status=status)
    if actor.role is Role.SPECIALIST:
        query = query.filter(school_organization_id=actor.organization_id)
    total = await query.count()
    found = await query.order_by("created_at", "id").offset((page - 1) * per_page).limit(per_page)
    return list(found), total


async def get_help_request(*, actor: Actor | None, help_request_id: UUID) -> HelpRequest:
    actor = _require_school_staff(actor)
    request = await HelpRequest.get_or_none(id=help_request_id)
    if request is None:
        raise NotFound(f"No help request with id {help_request_id}.")
    if actor.role is Role.SPECIALIST and request.school_organization_id != actor.organization_id:
        raise Forbidden("This help request was sent to another school.")
    return request


async def mark_handled(*, actor: Actor | None, help_request_id: UUID) -> HelpRequest:
    request = await get_help_request(actor=actor, help_request_id=help_request_id)
    actor = _require_school_staff(actor)
    await HelpRequest.filter(id=request.id).update(
        status=HelpRequestStatus.HANDLED, handled_by=actor.user_id
    )
    return await HelpRequest.get(id=request.id)
