"""Input shapes and field rules for catalog writes, as pydantic models.

Route handlers and importers hand raw dicts to the service layer, which validates them here, so
the API, the HSDS import and the seed loader all obey the same rules. Pydantic's errors become one
`Invalid` error naming each bad field.
"""

import re
from datetime import date
from typing import Annotated, Any, ClassVar, Self, TypeVar
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    HttpUrl,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from directory import text
from directory.errors import Invalid
from directory.models import (
    IntakeState,
    LocationType,
    OrganizationKind,
    ServiceAreaType,
    ServiceStatus,
)
from directory.taxonomy import BY_CODE

ZIP_PATTERN = r"^\d{5}(-\d{4})?$"
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY_PART = re.compile(r"^(-?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$")
_TIMEZONES = frozenset(available_timezones())

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
PostalCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=ZIP_PATTERN)]
LanguageCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


def known_category_codes(codes: list[str]) -> list[str]:
    """Category codes from `directory.taxonomy`, each once; used wherever input names needs."""
    unknown = [code for code in codes if code not in BY_CODE]
    if unknown:
        raise ValueError(f"unknown category code(s): {', '.join(unknown)}")
    return list(dict.fromkeys(codes))


CategoryCodes = Annotated[list[str], AfterValidator(known_category_codes)]


def _url(value: HttpUrl | None) -> str | None:
    return str(value) if value is not None else None


class Input(BaseModel):
    """Every input model: unknown fields refused, text trimmed, and every string obeying
    `directory.text` (one line unless the field is named in `multiline`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    multiline: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        return text.check_all(value, multiline=info.field_name in cls.multiline)

    def values(self) -> dict[str, Any]:
        """Plain values ready for a Tortoise model (URLs as strings)."""
        return {
            key: (str(value) if isinstance(value, HttpUrl) else value)
            for key, value in self.model_dump().items()
        }


class OrganizationInput(Input):
    multiline = frozenset({"description"})
    name: Name
    alternate_name: ShortText | None = None
    description: LongText = ""
    email: EmailStr | None = None
    referral_email: EmailStr | None = Field(
        default=None, description="private: where new referrals and reminders are emailed"
    )
    website: HttpUrl | None = None
    kind: OrganizationKind = OrganizationKind.PROVIDER


class ServiceInput(Input):
    multiline = frozenset(
        {
            "description",
            "application_process",
            "fees_description",
            "eligibility_description",
            "interpretation_services",
        }
    )
    name: Name
    alternate_name: ShortText | None = None
    description: LongText = ""
    url: HttpUrl | None = None
    email: EmailStr | None = None
    status: ServiceStatus = ServiceStatus.ACTIVE
    application_process: LongText | None = None
    fees_description: LongText | None = None
    free: bool = False
    eligibility_description: LongText | None = None
    minimum_age: int | None = Field(default=None, ge=0, le=120)
    maximum_age: int | None = Field(default=None, ge=0, le=120)
    interpretation_services: LongText | None = None
    languages: list[LanguageCode] = Field(default_factory=list, max_length=50)
    accepts_referrals: bool = False
    categories: CategoryCodes = Field(min_length=1, max_length=20)

    @field_validator("status", mode="before")
    @classmethod
    def _status_alias(cls, value: Any) -> Any:
        """Accept `temporarily_closed` for HSDS's `temporarily closed`."""
        return "temporarily closed" if value == "temporarily_closed" else value

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, codes: list[str]) -> list[str]:
        return list(dict.fromkeys(codes))

    @model_validator(mode="after")
    def _age_range(self) -> Self:
        if (
            self.minimum_age is not None
            and self.maximum_age is not None
            and self.minimum_age > self.maximum_age
        ):
            raise FieldError("minimum_age", "must not be greater than maximum_age")
        return self


class LocationInput(Input):
    multiline = frozenset({"description", "transportation", "accessibility"})
    name: ShortText | None = None
    description: LongText | None = None
    location_type: LocationType = LocationType.PHYSICAL
    url: HttpUrl | None = None
    address_1: ShortText | None = None
    address_2: ShortText | None = None
    city: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    state_province: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    postal_code: PostalCode | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    transportation: LongText | None = None
    accessibility: LongText | None = None

    @model_validator(mode="after")
    def _placeable(self) -> Self:
        if (self.latitude is None) != (self.longitude is None):
            missing = "longitude" if self.longitude is None else "latitude"
            raise FieldError(missing, "latitude and longitude go together")
        if self.location_type is LocationType.PHYSICAL and not (
            self.postal_code or self.latitude is not None or (self.address_1 and self.city)
        ):
            raise FieldError(
                "postal_code", "a physical location needs a postal code, an address or coordinates"
            )
        return self


class PhoneInput(Input):
    number: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ().-]{7,25}$")
    ]
    extension: int | None = Field(default=None, ge=0, le=999999)
    type: Annotated[
        str, StringConstraints(pattern=r"^(voice|text|fax|cell|video|pager|textphone)$")
    ] = "voice"
    description: ShortText | None = None
    languages: list[LanguageCode] = Field(default_factory=list, max_length=50)


class ScheduleInput(Input):
    multiline = frozenset({"description"})
    freq: Annotated[str, StringConstraints(pattern=r"^(WEEKLY|MONTHLY)$")] = "WEEKLY"
    byday: str | None = Field(default=None, max_length=60)
    opens_at: ClockTime | None = None
    closes_at: ClockTime | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    description: LongText | None = None
    timezone_name: str = "America/Chicago"

    @field_validator("byday")
    @classmethod
    def _byday(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = [part.strip().upper() for part in value.split(",") if part.strip()]
        bad = [part for part in parts if not _BYDAY_PART.match(part)]
        if bad or not parts:
            raise ValueError(f"use comma-separated day codes {','.join(DAY_CODES)}")
        return ",".join(parts)

    @field_validator("timezone_name")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in _TIMEZONES:
            raise ValueError("unknown IANA time zone, e.g. America/Chicago")
        return value

    @model_validator(mode="after")
    def _hours(self) -> Self:
        if (self.opens_at is None) != (self.closes_at is None):
            raise FieldError("closes_at", "opens_at and closes_at go together")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise FieldError("closes_at", "must be after opens_at")
        if self.valid_from and self.valid_to and self.valid_to < self.valid_from:
            raise FieldError("valid_to", "must not be before valid_from")
        return self


class ServiceAreaInput(Input):
    multiline = frozenset({"description"})
    name: Name
    description: LongText | None = None
    extent_type: ServiceAreaType
    extent: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    state_province: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None

    @model_validator(mode="after")
    def _extent(self) -> Self:
        if self.extent_type is ServiceAreaType.POSTAL_CODE and not re.match(
            ZIP_PATTERN, self.extent
        ):
            raise FieldError("extent", "a postal_code area needs a 5-digit ZIP code")
        if self.extent_type is ServiceAreaType.COUNTY and not self.state_province:
            raise FieldError("state_province", "a county area needs its state")
        if self.extent_type is ServiceAreaType.STATE:
            if not re.match(r"^[A-Z]{2}$", self.extent):
                raise FieldError("extent", "a state area needs a two-letter state code")
            self.state_province = self.extent
        return self


class IntakeInput(Input):
    """Whether a service takes new people now: open, a waitlist (how long), or full."""

    state: IntakeState
    wait_days: int | None = Field(default=None, ge=1, le=365, strict=True)

    @model_validator(mode="after")
    def _wait(self) -> Self:
        if self.state is IntakeState.WAITLIST and self.wait_days is None:
            raise FieldError("wait_days", "the expected wait in days (1 to 365) for a waitlist")
        if self.state is not IntakeState.WAITLIST:
            self.wait_days = None
        return self


class FieldError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


InputModel = TypeVar("InputModel", bound=Input)


def validate(model: type[InputModel], data: Any, prefix: str = "") -> InputModel:
    """Validate `data` or raise `Invalid` naming every bad field (with `prefix` for nesting)."""
    if not isinstance(data, dict):
        raise Invalid({prefix.rstrip(".") or "body": "must be a JSON object"})
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise Invalid(_field_messages(error, prefix)) from None


def _field_messages(error: ValidationError, prefix: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    for detail in error.errors(include_url=False):
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            field, message = cause.field, str(cause)
        else:
            field = ".".join(str(part) for part in detail["loc"]) or "body"
            message = _plain(detail)
        messages.setdefault(prefix + field, message)
    return messages


# Pydantic's own words name its types ("List should have at least 1 item after validation,
# not 0"); people read these, so each kind a form can meet says what to do instead.
PLAIN: dict[str, str] = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "string_pattern_mismatch": "has the wrong format",
    "string_type": "must be text",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be yes or no (true or false)",
    "bool_type": "must be yes or no (true or false)",
    "datetime_parsing": "a date and time such as 2026-11-23T15:30",
    "datetime_from_date_parsing": "a date and time such as 2026-11-23T15:30",
    "datetime_type": "a date and time such as 2026-11-23T15:30",
    "date_parsing": "a date such as 2026-11-23",
    "date_from_datetime_parsing": "a date such as 2026-11-23",
    "time_parsing": "a time such as 09:30",
    "uuid_parsing": "not a valid id",
    "url_parsing": "a web address such as https://example.org",
    "url_scheme": "a web address starting with http:// or https://",
    "list_type": "must be a list",
    "dict_type": "must be an object",
}


def _plain(detail: Any) -> str:
    kind, message, context = detail["type"], detail["msg"], detail.get("ctx") or {}
    if kind in PLAIN:
        return PLAIN[kind]
    if kind == "too_short":
        return "choose at least one" if context.get("min_length") == 1 else "too few"
    if kind == "too_long":
        return f"at most {context.get('max_length')}"
    if kind == "string_too_short":
        return "required"
    if kind == "string_too_long":
        return f"at most {context.get('max_length')} characters"
    if kind in ("enum", "literal_error"):
        return f"choose one of: {context.get('expected', '')}".rstrip(": ")
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        limit = next(iter(context.values()), "")
        words = {
            "greater_than_equal": "at least",
            "less_than_equal": "at most",
            "greater_than": "more than",
            "less_than": "less than",
        }
        return f"must be {words[kind]} {limit}"
    return message.removeprefix("Value error, ")
