"""The tabular layout of HSDS 3.0: its tables, their columns and types, and how they nest.

One description serves the CSV reader, the CSV writer, the JSON flattener and the importer's
checks, so the rules of the standard (required fields, formats, enums) live in this one place.
caremap's own columns (`free`, `accepts_referrals`, `kind`, `timezone_name`, `state_province`)
are extensions the standard allows; they follow the HSDS columns, and so do the columns HSDS 3.1
added to 3.0's tables (`attribute.label`, `service_area.service_at_location_id`). The tables 3.1
added (`service_capacity`, `unit`, `url`) are read, kept and written like any other.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    required: tuple[str, ...] = ("id",)
    extensions: tuple[str, ...] = ()
    # Fields caremap stores in its own columns; an export lays their current values over the
    # record as it was imported.
    modelled: frozenset[str] = field(default_factory=frozenset)

    @property
    def file(self) -> str:
        return f"{_PLURAL.get(self.name, self.name + 's')}.csv"

    @property
    def files(self) -> tuple[str, ...]:
        """The file names a data set may give the table: the standard's, and the other number
        (the Open Referral UK examples have `attribute.csv`, some have both forms)."""
        return tuple(dict.fromkeys([self.file, f"{self.name}.csv", f"{self.name}s.csv"]))


def _table(name: str, columns: str, required: str = "id", **options: object) -> Table:
    return Table(name, tuple(columns.split()), tuple(required.split()), **options)  # type: ignore[arg-type]


_PLURAL = {
    "service_at_location": "service_at_location",
    "funding": "funding",
    "accessibility": "accessibility",
    "metadata": "metadata",
    "taxonomy": "taxonomies",
    "address": "addresses",
    "service_capacity": "service_capacity",
    "url": "url",
}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        _table(
            "organization",
            "id name alternate_name description email website tax_status tax_id "
            "year_incorporated legal_status logo uri parent_organization_id",
            "id name description",
            extensions=("kind",),
            modelled=frozenset(
                ["name", "alternate_name", "description", "email", "website", "kind"]
            ),
        ),
        _table("program", "id organization_id name alternate_name description", "id name"),
        _table(
            "service",
            "id organization_id program_id name alternate_name description url email status "
            "interpretation_services application_process fees_description wait_time fees "
            "accreditations eligibility_description minimum_age maximum_age assured_date "
            "assurer_email licenses alert last_modified",
            "id name status",
            extensions=("free", "accepts_referrals"),
            modelled=frozenset(
                [
                    "organization_id",
                    "name",
                    "alternate_name",
                    "description",
                    "url",
                    "email",
                    "status",
                    "interpretation_services",
                    "application_process",
                    "fees_description",
                    "eligibility_description",
                    "minimum_age",
                    "maximum_age",
                    "assured_date",
                    "last_modified",
                    "free",
                    "accepts_referrals",
                ]
            ),
        ),
        _table(
            "attribute",
            "id link_id taxonomy_term_id link_type link_entity value",
            extensions=("label",),
            modelled=frozenset(["link_id", "taxonomy_term_id", "link_type", "link_entity"]),
        ),
        _table(
            "service_at_location",
            "id service_id location_id description",
            modelled=frozenset(["service_id", "location_id", "description"]),
        ),
        _table(
            "location",
            "id location_type url organization_id name alternate_name description "
            "transportation latitude longitude external_identifier external_identifier_type",
            "id location_type",
            modelled=frozenset(
                [
                    "location_type",
                    "url",
                    "organization_id",
                    "name",
                    "description",
                    "transportation",
                    "latitude",
                    "longitude",
                ]
            ),
        ),
        _table(
            "phone",
            "id location_id service_id organization_id contact_id service_at_location_id "
            "number extension type description",
            "id number",
            modelled=frozenset(
                ["location_id", "service_id", "number", "extension", "type", "description"]
            ),
        ),
        _table(
            "contact",
            "id organization_id service_id service_at_location_id location_id name title "
            "department email",
        ),
        _table(
            "address",
            "id location_id attention address_1 address_2 city region state_province "
            "postal_code country address_type",
            "id address_1 city state_province postal_code country address_type",
            modelled=frozenset(
                [
                    "location_id",
                    "address_1",
                    "address_2",
                    "city",
                    "state_province",
                    "postal_code",
                    "country",
                ]
            ),
        ),
        _table(
            "schedule",
            "id service_id location_id service_at_location_id valid_from valid_to dtstart "
            "timezone until count wkst freq interval byday byweekno bymonthday byyearday "
            "description opens_at closes_at schedule_link attending_type notes",
            extensions=("timezone_name",),
            modelled=frozenset(
                [
                    "service_at_location_id",
                    "valid_from",
                    "valid_to",
                    "freq",
                    "byday",
                    "description",
                    "opens_at",
                    "closes_at",
                    "timezone_name",
                ]
            ),
        ),
        _table("funding", "id organization_id service_id source"),
        _table(
            "service_area",
            "id service_id name description extent extent_type uri",
            extensions=("state_province", "service_at_location_id"),
            modelled=frozenset(
                ["service_id", "name", "description", "extent", "extent_type", "state_province"]
            ),
        ),
        _table("required_document", "id service_id document uri"),
        _table(
            "language",
            "id service_id location_id phone_id name code note",
            modelled=frozenset(["code"]),
        ),
        _table(
            "accessibility",
            "id location_id description details url",
            modelled=frozenset(["location_id", "description"]),
        ),
        _table(
            "taxonomy_term",
            "id code name description parent_id taxonomy language taxonomy_id term_uri",
            "id name description",
        ),
        _table(
            "metadata",
            "id resource_id resource_type last_action_date last_action_type field_name "
            "previous_value replacement_value updated_by",
            "id last_action_date last_action_type field_name previous_value replacement_value "
            "updated_by",
        ),
        _table("meta_table_description", "id name language character_set"),
        _table(
            "cost_option",
            "id service_id valid_from valid_to option currency amount amount_description",
        ),
        _table(
            "organization_identifier",
            "id organization_id identifier_scheme identifier_type identifier",
            "id identifier_type identifier",
        ),
        _table("taxonomy", "id name description uri version", "id name description"),
        # HSDS 3.1
        _table(
            "service_capacity",
            "id service_id unit_id available maximum description updated",
            "id available updated",
        ),
        _table("unit", "id name scheme identifier uri", "id name"),
        _table("url", "id label url organization_id service_id", "id url"),
    )
}
BY_FILE = {name: table for table in TABLES.values() for name in table.files}

NUMBERS = frozenset(
    [
        "year_incorporated",
        "minimum_age",
        "maximum_age",
        "latitude",
        "longitude",
        "extension",
        "timezone",
        "count",
        "interval",
        "amount",
        "available",
        "maximum",
    ]
)
BOOLEANS = frozenset({"free", "accepts_referrals"})
DATES = frozenset(
    ["valid_from", "valid_to", "dtstart", "until", "assured_date", "last_action_date"]
)
DATETIMES = frozenset({"last_modified", "updated"})
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("service", "status"): ("active", "inactive", "defunct", "temporarily closed"),
    ("location", "location_type"): ("physical", "postal", "virtual"),
    ("address", "address_type"): ("physical", "postal", "virtual"),
}
# Fields holding the id of a record in another table (checked as UUIDs).
REFERENCES: dict[str, str] = {
    "organization_id": "organization",
    "parent_organization_id": "organization",
    "program_id": "program",
    "service_id": "service",
    "location_id": "location",
    "contact_id": "contact",
    "service_at_location_id": "service_at_location",
    "phone_id": "phone",
    "taxonomy_term_id": "taxonomy_term",
    "taxonomy_id": "taxonomy",
    "parent_id": "taxonomy_term",
    "unit_id": "unit",
}

# Provenance an import keeps with a record from an older format (its id there, the columns HSDS
# 3.0 has no place for): in the kept record, never in an export.
SOURCE_ID = "source_id"
SOURCE_FIELDS = "source_fields"
PROVENANCE = (SOURCE_ID, SOURCE_FIELDS)

# Nested JSON: a list under a record holds records of a table; objects name one record.
LISTS: dict[str, str] = {
    "services": "service",
    "locations": "location",
    "programs": "program",
    "phones": "phone",
    "contacts": "contact",
    "schedules": "schedule",
    "service_areas": "service_area",
    "service_at_locations": "service_at_location",
    "languages": "language",
    "funding": "funding",
    "cost_options": "cost_option",
    "required_documents": "required_document",
    "attributes": "attribute",
    "metadata": "metadata",
    "addresses": "address",
    "accessibility": "accessibility",
    "organization_identifiers": "organization_identifier",
    "capacities": "service_capacity",  # 3.1
    "additional_urls": "url",  # 3.1
}
# The key under which a record of each table is listed in the record it belongs to.
LIST_KEY = {table: key for key, table in LISTS.items()}
OBJECTS: dict[str, str] = {
    "organization": "organization",
    "program": "program",
    "service": "service",
    "location": "location",
    "taxonomy_term": "taxonomy_term",
    "taxonomy_detail": "taxonomy",
    "unit": "unit",  # 3.1
}
# Records nested as an object in another beyond its parents: (key, table, field naming it).
EMBEDDED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "attribute": (("taxonomy_term", "taxonomy_term", "taxonomy_term_id"),),
    "taxonomy_term": (("taxonomy_detail", "taxonomy", "taxonomy_id"),),
    "service_capacity": (("unit", "unit", "unit_id"),),
}
