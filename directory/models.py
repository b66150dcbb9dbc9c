"""Tortoise models for the catalog, named after the Open Referral HSDS 3.0 objects and fields.

Where caremap needs more than HSDS says (a `free` flag, `accepts_referrals`, a geocoding status,
an optimistic-locking `version`), the extra field sits beside the HSDS ones and is exported as an
extension property, which the HSDS schemas allow.
"""

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class OrganizationKind(StrEnum):
    PROVIDER = "provider"
    SCHOOL = "school"


class ServiceStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DEFUNCT = "defunct"
    TEMPORARILY_CLOSED = "temporarily closed"


class LocationType(StrEnum):
    PHYSICAL = "physical"
    VIRTUAL = "virtual"


class GeocodeStatus(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FAILED = "failed"
    NOT_NEEDED = "not_needed"


class IntakeState(StrEnum):
    """Whether a service can take new people now (HSDS 3.1 and the Gravity IG model capacity)."""

    OPEN = "open"
    WAITLIST = "waitlist"
    FULL = "full"


class ProblemKind(StrEnum):
    WRONG_PHONE = "wrong_phone"
    WRONG_ADDRESS = "wrong_address"
    WRONG_HOURS = "wrong_hours"
    CLOSED = "closed"
    MOVED = "moved"
    OTHER = "other"


class ServiceAreaType(StrEnum):
    POSTAL_CODE = "postal_code"
    COUNTY = "county"
    STATE = "state"


class Versioned(Model):
    """Rows that two people may edit at once carry a version, bumped by every update."""

    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class Organization(Versioned):
    id = fields.UUIDField(primary_key=True)
    name = fields.CharField(max_length=200)
    alternate_name = fields.CharField(max_length=200, null=True)
    description = fields.TextField(default="")
    email = fields.CharField(max_length=254, null=True)
    referral_email = fields.CharField(max_length=254, null=True)
    website = fields.CharField(max_length=500, null=True)
    kind = fields.CharEnumField(OrganizationKind, max_length=20, default=OrganizationKind.PROVIDER)

    class Meta:
        table = "organization"
        ordering = ("name",)


class TaxonomyTerm(Model):
    id = fields.UUIDField(primary_key=True)
    code = fields.CharField(max_length=100, unique=True)
    name = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    parent = fields.ForeignKeyField(
        "models.TaxonomyTerm",
        related_name="children",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    taxonomy = fields.CharField(max_length=100)

    class Meta:
        table = "taxonomy_term"


class Service(Versioned):
    id = fields.UUIDField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="services", on_delete=fields.CASCADE, db_index=True
    )
    name = fields.CharField(max_length=200)
    alternate_name = fields.CharField(max_length=200, null=True)
    description = fields.TextField(default="")
    url = fields.CharField(max_length=500, null=True)
    email = fields.CharField(max_length=254, null=True)
    status = fields.CharEnumField(ServiceStatus, max_length=30, default=ServiceStatus.ACTIVE)
    application_process = fields.TextField(null=True)
    fees_description = fields.TextField(null=True)
    free = fields.BooleanField(default=False)
    eligibility_description = fields.TextField(null=True)
    minimum_age = fields.IntField(null=True)
    maximum_age = fields.IntField(null=True)
    interpretation_services = fields.TextField(null=True)
    languages = fields.JSONField(default=list)
    accepts_referrals = fields.BooleanField(default=False)
    intake_state = fields.CharEnumField(IntakeState, max_length=10, default=IntakeState.OPEN)
    intake_wait_days = fields.IntField(null=True)
    intake_updated_at = fields.DatetimeField(null=True)
    last_verified_at = fields.DatetimeField(null=True)
    last_verified_by = fields.UUIDField(null=True)
    # Set by the freshness sweep when the listing passes its verification period, cleared when
    # someone vouches for it again (`directory.freshness`).
    stale_since = fields.DatetimeField(null=True)
    # Why referral outcomes asked for a re-verification: counts by reason, cleared on verifying.
    review_signals = fields.JSONField(null=True)
    review_requested_at = fields.DatetimeField(null=True)
    categories: fields.ManyToManyRelation[TaxonomyTerm] = fields.ManyToManyField(
        "models.TaxonomyTerm", related_name="services", through="service_category"
    )

    class Meta:
        table = "service"
        ordering = ("name",)


class Location(Versioned):
    id = fields.UUIDField(primary_key=True)
    organization = fields.ForeignKeyField(
        "models.Organization", related_name="locations", on_delete=fields.CASCADE, db_index=True
    )
    name = fields.CharField(max_length=200, null=True)
    description = fields.TextField(null=True)
    location_type = fields.CharEnumField(LocationType, max_length=20, default=LocationType.PHYSICAL)
    url = fields.CharField(max_length=500, null=True)
    address_1 = fields.CharField(max_length=200, null=True)
    address_2 = fields.CharField(max_length=200, null=True)
    city = fields.CharField(max_length=100, null=True)
    state_province = fields.CharField(max_length=100, null=True)
    postal_code = fields.CharField(max_length=10, null=True, db_index=True)
    country = fields.CharField(max_length=2, default="US")
    latitude = fields.FloatField(null=True)
    longitude = fields.FloatField(null=True)
    geocode_status = fields.CharEnumField(
        GeocodeStatus, max_length=20, default=GeocodeStatus.NOT_NEEDED
    )
    geocode_source = fields.CharField(max_length=50, null=True)
    transportation = fields.TextField(null=True)
    accessibility = fields.TextField(null=True)

    class Meta:
        table = "location"


class ServiceAtLocation(Model):
    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service",
        related_name="service_at_locations",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    location = fields.ForeignKeyField(
        "models.Location",
        related_name="service_at_locations",
        on_delete=fields.CASCADE,
        db_index=True,
    )
    description = fields.TextField(null=True)

    class Meta:
        table = "service_at_location"
        unique_together = (("service", "location"),)


class Phone(Versioned):
    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service", related_name="phones", null=True, on_delete=fields.CASCADE, db_index=True
    )
    location = fields.ForeignKeyField(
        "models.Location", related_name="phones", null=True, on_delete=fields.CASCADE, db_index=True
    )
    number = fields.CharField(max_length=30)
    extension = fields.IntField(null=True)
    type = fields.CharField(max_length=20, default="voice")
    description = fields.TextField(null=True)
    languages = fields.JSONField(default=list)

    class Meta:
        table = "phone"


class Schedule(Versioned):
    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service",
        related_name="schedules",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    service_at_location = fields.ForeignKeyField(
        "models.ServiceAtLocation",
        related_name="schedules",
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    freq = fields.CharField(max_length=10, default="WEEKLY")
    byday = fields.CharField(max_length=60, null=True)
    opens_at = fields.CharField(max_length=5, null=True)
    closes_at = fields.CharField(max_length=5, null=True)
    valid_from = fields.DateField(null=True)
    valid_to = fields.DateField(null=True)
    description = fields.TextField(null=True)
    timezone_name = fields.CharField(max_length=64, default="America/Chicago")

    class Meta:
        table = "schedule"


class ServiceArea(Versioned):
    """A place a service covers: one postal code, one county or one state.

    A county-wide or virtual service is found from any ZIP in its area, because search resolves
    a ZIP to its county and state too.
    """

    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service", related_name="service_areas", on_delete=fields.CASCADE, db_index=True
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    extent_type = fields.CharEnumField(ServiceAreaType, max_length=20)
    extent = fields.CharField(max_length=100, db_index=True)
    state_province = fields.CharField(max_length=2, null=True)

    class Meta:
        table = "service_area"


class GeocodeCache(Model):
    """Geocoder answers for listing addresses (public business addresses, never families)."""

    id = fields.IntField(primary_key=True)
    query = fields.CharField(max_length=500)
    provider = fields.CharField(max_length=50)
    latitude = fields.FloatField()
    longitude = fields.FloatField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "geocode_cache"
        unique_together = (("provider", "query"),)


class ListingChange(Model):
    """Append-only history of catalog writes, written in the same transaction as the write.

    Later parts (the search outbox, the audit views) hook in through `directory.changes`.
    """

    id = fields.BigIntField(primary_key=True)
    organization_id = fields.UUIDField(db_index=True)
    service_id = fields.UUIDField(null=True, db_index=True)
    entity = fields.CharField(max_length=30)
    entity_id = fields.UUIDField()
    action = fields.CharField(max_length=20)
    changed_fields = fields.JSONField(default=list)
    actor_user_id = fields.UUIDField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "listing_change"
        ordering = ("id",)


class KeptRecord(Model):
    """An HSDS record as it was imported, kept so an export gives back what caremap does not use.

    For records caremap models (organizations, services, locations, phones...) an export lays the
    current values over the kept one, so a partner's edits win and the rest comes back as it came.
    Fields caremap could not use are named in `unused` ("*" for the whole record). Records of
    tables caremap does not model (contacts, funding, programs...) are exported as kept. Each goes
    when the organization, service or location it belongs to is deleted.
    """

    id = fields.BigIntField(primary_key=True)
    hsds_table = fields.CharField(max_length=40)
    record_id = fields.UUIDField()
    organization = fields.ForeignKeyField(
        "models.Organization",
        related_name=False,
        null=True,
        on_delete=fields.CASCADE,
        db_index=True,
    )
    service = fields.ForeignKeyField(
        "models.Service", related_name=False, null=True, on_delete=fields.CASCADE, db_index=True
    )
    location = fields.ForeignKeyField(
        "models.Location", related_name=False, null=True, on_delete=fields.CASCADE, db_index=True
    )
    data = fields.JSONField()
    unused = fields.JSONField(default=list)

    class Meta:
        table = "hsds_record"
        unique_together = (("hsds_table", "record_id"),)


class ProblemReport(Model):
    """Someone told us a listing is wrong (from its public page), tracked until resolved.

    Reports are anonymous: no name, address or contact of the person reporting is asked for.
    The listing's organization and the admins see them and resolve them with a short note.
    """

    id = fields.UUIDField(primary_key=True)
    service = fields.ForeignKeyField(
        "models.Service", related_name="problem_reports", on_delete=fields.CASCADE, db_index=True
    )
    organization_id = fields.UUIDField(db_index=True)
    kind = fields.CharEnumField(ProblemKind, max_length=20)
    details = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True, db_index=True)
    resolved_by = fields.UUIDField(null=True)
    resolution = fields.TextField(null=True)

    class Meta:
        table = "problem_report"
        ordering = ("-created_at",)
