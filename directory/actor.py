"""The acting user as the domain sees it: who, for which organization, in which role.

caremap's auth layer turns a session or API token into an `Actor` and puts it on `request.user`;
domain services receive it as a plain value and never import caremap's account models.
"""

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from starlette.authentication import BaseUser


class Role(StrEnum):
    SPECIALIST = "specialist"
    PARTNER = "partner"
    PARTNER_ADMIN = "partner_admin"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Actor(BaseUser):
    user_id: UUID
    organization_id: UUID
    role: Role

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return str(self.user_id)

    @property
    def identity(self) -> str:
        return str(self.user_id)


# Writes made by caremap itself (seed loading, HSDS import, the geocoding retry) rather than by a
# person. It acts with admin rights; the nil UUID marks its entries in the listing history.
SYSTEM = Actor(user_id=UUID(int=0), organization_id=UUID(int=0), role=Role.ADMIN)
