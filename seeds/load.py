"""Load the demo catalog and demo accounts through the catalog's service layer (idempotent).

Records that already exist (same id, or same email for accounts) are left alone, so loading twice
changes nothing, and a partner's later edits to a demo listing are never overwritten.
"""

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from caremap.accounts import service as accounts
from caremap.accounts.models import User
from directory import details, hsds, service
from directory.actor import SYSTEM
from directory.geocoding import Geocoder
from directory.models import Location, Organization, Service
from seeds.history import load_history

DATA_DIR = Path(__file__).parent / "data"


@dataclass
class LoadReport:
    created: dict[str, int] = field(
        default_factory=lambda: {"organization": 0, "location": 0, "service": 0, "user": 0}
    )
    skipped: dict[str, int] = field(
        default_factory=lambda: {"organization": 0, "location": 0, "service": 0, "user": 0}
    )
    logins: list[tuple[str, str, str]] = field(default_factory=list)

    def count(self, kind: str, created: bool) -> None:
        (self.created if created else self.skipped)[kind] += 1


def read_documents(name: str) -> list[dict[str, Any]]:
    return json.loads((DATA_DIR / name).read_text())


async def load_catalog(*, geocoder: Geocoder, report: LoadReport | None = None) -> LoadReport:
    report = report or LoadReport()
    for document in read_documents("organizations.json"):
        organization_id = UUID(document["id"])
        exists = await Organization.exists(id=organization_id)
        if not exists:
            await service.create_organization(
                actor=SYSTEM,
                organization_id=organization_id,
                data=hsds.organization_input(document),
            )
        report.count("organization", not exists)
        for location in document.get("locations") or []:
            location_id = UUID(location["id"])
            exists = await Location.exists(id=location_id)
            if not exists:
                await details.create_location(
                    actor=SYSTEM,
                    location_id=location_id,
                    geocoder=geocoder,
                    data={**hsds.location_input(location), "organization_id": document["id"]},
                )
            report.count("location", not exists)
        for listing in document.get("services") or []:
            service_id = UUID(listing["id"])
            exists = await Service.exists(id=service_id)
            if not exists:
                await service.create_service(
                    actor=SYSTEM,
                    service_id=service_id,
                    data=hsds.service_input(listing),
                    verified_at=hsds.assured_at(listing),
                )
            report.count("service", not exists)
    return report


async def load_accounts(*, report: LoadReport | None = None) -> LoadReport:
    """Create the demo users that do not exist yet, each with a new random password."""
    report = report or LoadReport()
    for account in read_documents("accounts.json"):
        exists = await User.exists(email=account["email"])
        if not exists:
            password = secrets.token_urlsafe(12)
            await accounts.create_user(by_system=True, password=password, **account)
            report.logins.append((account["email"], account["role"], password))
        report.count("user", not exists)
    return report


async def load_demo(*, geocoder: Geocoder) -> LoadReport:
    report = await load_catalog(geocoder=geocoder)
    report = await load_accounts(report=report)
    report.created["referral"] = await load_history()  # after the accounts: it names them
    return report
