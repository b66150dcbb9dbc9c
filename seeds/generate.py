"""Write the demo catalog to seeds/data/ as HSDS 3.0 organization documents.

Run `python -m seeds.generate` after editing seeds/templates.py. The output is deterministic
(fixed random seed, ids derived from names), so regenerating changes only what the edit changed.
"""

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from directory.geocoding import Point, zip_info
from directory.serialize import without_nulls
from directory.taxonomy import BY_CODE, category_id
from seeds.streets import address_near, point_of
from seeds.templates import (
    AREA_SERVICES,
    CITIES,
    ORGANIZATIONS,
    SCHOOLS,
    SERVICE_KINDS,
    SPANISH_NAMES,
)

DATA_DIR = Path(__file__).parent / "data"
SNAPSHOT_DATE = datetime(2026, 11, 1, tzinfo=UTC)
TEMPORARILY_CLOSED = {
    "Garfield Park Smiles Dental",
    "Woodlawn Wheels Transit Program",
    "Welborn Clothing Exchange",
    "Rogers Park Adult Learning Center",
}


def stable_id(*parts: str) -> str:
    return str(uuid5(NAMESPACE_URL, "caremap-demo:" + ":".join(parts)))


def slug(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())[:24]


class Generator:
    def __init__(self) -> None:
        self.random = random.Random(2026)
        self.phone_serial = 100

    def phone(self, city: dict[str, Any]) -> str:
        self.phone_serial = 100 + (self.phone_serial - 99) % 100
        return f"({self.random.choice(city['area_codes'])}) 555-0{self.phone_serial:03d}"

    def location(
        self, org_name: str, city: dict[str, Any], index: int, zip_code: str | None = None
    ) -> dict[str, Any]:
        zip_code = zip_code or self.random.choice(city["zips"])
        centroid = zip_info(zip_code)
        assert centroid is not None
        near = Point(
            latitude=centroid.point.latitude + self.random.uniform(-0.006, 0.006),
            longitude=centroid.point.longitude + self.random.uniform(-0.006, 0.006),
        )
        street_address, point = address_near(city["city"], near, zip_code)
        location_id = stable_id(org_name, "location", str(index))
        return {
            "id": location_id,
            "location_type": "physical",
            "name": org_name if index == 0 else f"{org_name} (satellite site)",
            "latitude": point.latitude,
            "longitude": point.longitude,
            "transportation": "Near bus stops; street parking available.",
            "addresses": [
                {
                    "id": stable_id(org_name, "address", str(index)),
                    "location_id": location_id,
                    "address_1": street_address,
                    "city": city["city"],
                    "state_province": city["state"],
                    "postal_code": zip_code,
                    "country": "US",
                    "address_type": "physical",
                }
            ],
            "accessibility": [
                {
                    "id": stable_id(org_name, "accessibility", str(index)),
                    "location_id": location_id,
                    "description": self.random.choice(
                        [
                            "Wheelchair accessible entrance and restrooms.",
                            "Step-free side entrance; elevator to all floors.",
                            "Ground-floor office; accessible parking in front.",
                        ]
                    ),
                }
            ],
        }

    def service(
        self,
        org_name: str,
        org_id: str,
        code: str,
        city: dict[str, Any],
        location: dict[str, Any],
        spanish: bool,
        status: str,
    ) -> dict[str, Any]:
        (
            name,
            description,
            eligibility,
            apply,
            (min_age, max_age),
            free,
            fees,
            referrals,
            (byday, opens, closes),
        ) = SERVICE_KINDS[code]
        service_id = stable_id(org_name, "service", code)
        languages = ["en", "es"] if spanish else ["en"]
        if spanish and self.random.random() < 0.3:
            languages.append(self.random.choice(["pl", "ar", "zh", "vi", "sw"]))
        zip_code = location["addresses"][0]["postal_code"]
        neighbours = sorted(self.random.sample(city["zips"], 3))
        verified_days_ago = self.random.choice([5, 20, 45, 90, 120, 150, 170, 200, 260])
        return {
            "id": service_id,
            "organization_id": org_id,
            "name": name,
            "alternate_name": SPANISH_NAMES.get(code) if spanish else None,
            "description": description,
            "url": f"https://{slug(org_name)}.example.org/{code}",
            "email": f"info@{slug(org_name)}.example.org",
            "status": status,
            "interpretation_services": "Spanish-speaking staff on site; phone interpretation "
            "for other languages."
            if spanish
            else "Phone interpretation available on request.",
            "application_process": apply,
            "fees_description": "Free." if free else fees,
            "eligibility_description": eligibility,
            "minimum_age": min_age,
            "maximum_age": max_age,
            "assured_date": (SNAPSHOT_DATE - timedelta(days=verified_days_ago)).date().isoformat(),
            "languages": [
                {
                    "id": stable_id(service_id, "language", lang),
                    "service_id": service_id,
                    "code": lang,
                }
                for lang in languages
            ],
            "phones": [
                {
                    "id": stable_id(service_id, "phone"),
                    "service_id": service_id,
                    "number": self.phone(city),
                    "type": "voice",
                    "description": "Intake and questions",
                    "languages": [
                        {"id": stable_id(service_id, "phone-language", lang), "code": lang}
                        for lang in languages
                    ],
                }
            ],
            "schedules": [],
            "service_areas": [
                {
                    "id": stable_id(service_id, "area", z),
                    "service_id": service_id,
                    "name": f"ZIP {z}",
                    "extent_type": "postal_code",
                    "extent": z,
                }
                for z in sorted({zip_code, *neighbours})
            ],
            "service_at_locations": [
                {
                    "id": stable_id(service_id, "at", location["id"]),
                    "service_id": service_id,
                    "location_id": location["id"],
                    "schedules": [
                        {
                            "id": stable_id(service_id, "schedule"),
                            "freq": "WEEKLY",
                            "byday": byday,
                            "opens_at": opens,
                            "closes_at": closes,
                            "description": "Open hours",
                            "timezone": -6,
                        }
                    ],
                }
            ],
            "attributes": self.attributes(service_id, [code]),
            "free": free,
            "accepts_referrals": referrals,
        }

    @staticmethod
    def attributes(service_id: str, codes: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "id": stable_id(service_id, "category", code),
                "link_id": service_id,
                "link_type": "service",
                "link_entity": "service",
                "taxonomy_term_id": str(category_id(code)),
                "taxonomy_term": {
                    "id": str(category_id(code)),
                    "code": code,
                    "name": BY_CODE[code].name,
                    "description": BY_CODE[code].description,
                    "taxonomy": "caremap",
                },
            }
            for code in codes
        ]

    def area_service(
        self,
        org: dict[str, Any],
        name: str,
        codes: list[str],
        kind: str,
        extent: str,
        state: str,
        description: str,
    ) -> dict[str, Any]:
        service_id = stable_id(org["name"], "area-service", name)
        city = CITIES["chicago" if state == "IL" else "kck"]
        return {
            "id": service_id,
            "organization_id": org["id"],
            "name": name,
            "description": description,
            "status": "active",
            "url": f"https://{slug(org['name'])}.example.org/line",
            "application_process": "Call or text the line; no appointment needed.",
            "fees_description": "Free.",
            "eligibility_description": f"Anyone in {extent}.",
            "languages": [
                {
                    "id": stable_id(service_id, "language", lang),
                    "service_id": service_id,
                    "code": lang,
                }
                for lang in ("en", "es")
            ],
            "phones": [
                {
                    "id": stable_id(service_id, "phone"),
                    "service_id": service_id,
                    "number": self.phone(city),
                    "type": "voice",
                    "description": "Call or text",
                }
            ],
            "schedules": [
                {
                    "id": stable_id(service_id, "schedule"),
                    "service_id": service_id,
                    "freq": "WEEKLY",
                    "byday": "MO,TU,WE,TH,FR,SA,SU",
                    "opens_at": "00:00",
                    "closes_at": "23:59",
                    "description": "Every day, all day",
                }
            ],
            "service_areas": [
                {
                    "id": stable_id(service_id, "area"),
                    "service_id": service_id,
                    "name": extent
                    if kind != "state"
                    else ("Illinois" if state == "IL" else "Kansas"),
                    "extent_type": kind,
                    "extent": extent,
                    "state_province": state,
                }
            ],
            "service_at_locations": [],
            "attributes": self.attributes(service_id, codes),
            "assured_date": (SNAPSHOT_DATE - timedelta(days=30)).date().isoformat(),
            "free": True,
            "accepts_referrals": True,
        }

    def organizations(self) -> list[dict[str, Any]]:
        documents = []
        for index, (name, city_key, codes) in enumerate(ORGANIZATIONS):
            city = CITIES[city_key]
            org_id = stable_id(name)
            locations = [self.location(name, city, 0)]
            if index % 4 == 0:
                locations.append(self.location(name, city, 1))
            spanish = locations[0]["addresses"][0]["postal_code"] in city["spanish_zips"] or (
                self.random.random() < 0.25
            )
            services = []
            for position, code in enumerate(codes):
                location = locations[position % len(locations)]
                status = (
                    "temporarily closed"
                    if name in TEMPORARILY_CLOSED and position == 0
                    else "active"
                )
                services.append(self.service(name, org_id, code, city, location, spanish, status))
            if len(locations) > 1:
                # The lead service is offered at the satellite site too.
                lead = services[0]
                lead["service_at_locations"].append(
                    {
                        "id": stable_id(lead["id"], "at", locations[1]["id"]),
                        "service_id": lead["id"],
                        "location_id": locations[1]["id"],
                        "schedules": [
                            {
                                "id": stable_id(lead["id"], "schedule", "satellite"),
                                "freq": "WEEKLY",
                                "byday": "SA",
                                "opens_at": "09:00",
                                "closes_at": "12:00",
                                "description": "Saturday hours",
                                "timezone": -6,
                            }
                        ],
                    }
                )
            documents.append(
                {
                    "id": org_id,
                    "name": name,
                    "description": f"{name} serves families in {city['city']}, {city['state']}.",
                    "email": f"referrals@{slug(name)}.example.org",
                    "website": f"https://{slug(name)}.example.org",
                    "kind": "provider",
                    "locations": locations,
                    "services": services,
                }
            )
        by_name = {document["name"]: document for document in documents}
        for org_name, *spec in AREA_SERVICES:
            organization = by_name[org_name]
            organization["services"].append(self.area_service(organization, *spec))
        for name, city_key, zip_code, street in SCHOOLS:
            city = CITIES[city_key]
            location = self.location(name, city, 0, zip_code)
            point = point_of(city["city"], street)
            location["addresses"][0]["address_1"] = street
            location["latitude"], location["longitude"] = point.latitude, point.longitude
            documents.append(
                {
                    "id": stable_id(name),
                    "name": name,
                    "kind": "school",
                    "description": f"Public school in {city['city']}, {city['state']}.",
                    "email": f"studentsupport@{slug(name)}.example.org",
                    "website": f"https://{slug(name)}.example.org",
                    "locations": [location],
                    "services": [],
                }
            )
        return documents


def accounts(documents: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Demo logins. Passwords are generated when they are loaded, never stored here."""
    by_name = {document["name"]: document["id"] for document in documents}
    return [
        {
            "email": "specialist@pilsen-hs.example.org",
            "name": "Rosa Delgado (demo)",
            "role": "specialist",
            "organization_id": by_name["Pilsen Community High School"],
        },
        {
            "email": "specialist@wyandotte-ms.example.org",
            "name": "James Carter (demo)",
            "role": "specialist",
            "organization_id": by_name["Wyandotte Heights Middle School"],
        },
        {
            "email": "partner@pilsen-pantry.example.org",
            "name": "Ana Ruiz (demo)",
            "role": "partner",
            "organization_id": by_name["Pilsen Community Pantry"],
        },
        {
            "email": "admin@pilsen-pantry.example.org",
            "name": "Luis Ortega (demo)",
            "role": "partner_admin",
            "organization_id": by_name["Pilsen Community Pantry"],
        },
        {
            "email": "partner@southside-counseling.example.org",
            "name": "Dana Brooks (demo)",
            "role": "partner",
            "organization_id": by_name["Southside Youth Counseling Collective"],
        },
        {
            "email": "partner@wyandotte-pantry.example.org",
            "name": "Kim Nguyen (demo)",
            "role": "partner",
            "organization_id": by_name["Wyandotte Family Pantry"],
        },
        {
            "email": "admin@caremap-demo.example.org",
            "name": "District Admin (demo)",
            "role": "admin",
            "organization_id": by_name["Pilsen Community High School"],
        },
    ]


def main() -> None:
    documents = without_nulls(Generator().organizations())
    DATA_DIR.mkdir(exist_ok=True)
    (DATA_DIR / "organizations.json").write_text(
        json.dumps(documents, indent=1, ensure_ascii=False) + "\n"
    )
    (DATA_DIR / "accounts.json").write_text(json.dumps(accounts(documents), indent=1) + "\n")
    services = sum(len(d["services"]) for d in documents)
    print(f"{len(documents)} organizations, {services} services written to {DATA_DIR}")


if __name__ == "__main__":
    main()
