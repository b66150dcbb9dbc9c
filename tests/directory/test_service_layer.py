"""The catalog service layer against a real database: writes, history, filters, rollback."""

import pytest

from directory import details, service
from directory.actor import SYSTEM
from directory.errors import Forbidden, Invalid
from directory.models import ListingChange, Phone, Schedule, Service, ServiceArea
from tests import factories


async def test_create_service_with_parts_in_one_go(app):
    organization = await factories.organization()
    location = await factories.located(organization)
    created = await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            organization_id=str(organization.id),
            location_ids=[str(location.id)],
            phones=[{"number": "(773) 555-0100", "languages": ["es"]}],
            schedules=[
                {"byday": "MO,WE", "opens_at": "09:00", "closes_at": "12:00"},
                {
                    "byday": "SA",
                    "opens_at": "10:00",
                    "closes_at": "13:00",
                    "location_id": str(location.id),
                },
            ],
            service_areas=[
                {
                    "name": "Cook County",
                    "extent_type": "county",
                    "extent": "Cook County",
                    "state_province": "IL",
                }
            ],
        ),
    )
    assert [p.number for p in created.phones] == ["(773) 555-0100"]
    assert [s.byday for s in created.schedules] == ["MO,WE"]
    [link] = created.service_at_locations
    assert link.location_id == location.id
    assert [s.byday for s in link.schedules] == ["SA"]
    assert [a.extent for a in created.service_areas] == ["Cook County"]
    assert {term.code for term in created.categories} == {"food-pantry"}
    history = await ListingChange.filter(service_id=created.id).values_list("entity", "action")
    assert ("service", "create") in history
    assert ("phone", "create") in history
    assert ("schedule", "create") in history


async def test_a_bad_nested_part_writes_nothing(app):
    organization = await factories.organization()
    with pytest.raises(Invalid) as caught:
        await service.create_service(
            actor=SYSTEM,
            data=factories.service_data(
                organization_id=str(organization.id),
                phones=[{"number": "(773) 555-0100"}],
                schedules=[{"byday": "MO", "opens_at": "17:00", "closes_at": "09:00"}],
            ),
        )
    assert caught.value.fields == {"schedules.0.closes_at": "must be after opens_at"}
    assert await Service.filter(organization_id=organization.id).count() == 0
    assert await Phone.all().count() == 0
    assert await Schedule.all().count() == 0
    assert (
        await ListingChange.filter(organization_id=organization.id, entity="service").count() == 0
    )


async def test_update_records_changed_fields_and_bumps_version(app):
    organization = await factories.organization()
    listing = await factories.listing(organization)
    updated = await service.update_service(
        actor=SYSTEM,
        service_id=listing.id,
        version=1,
        data={"name": "Saturday Pantry", "description": listing.description},
    )
    assert updated.name == "Saturday Pantry"
    assert updated.version == 2
    change = await ListingChange.filter(service_id=listing.id, action="update").first()
    assert change is not None
    assert change.changed_fields == ["name"]


async def test_partial_update_keeps_cross_field_rules(app):
    organization = await factories.organization()
    listing = await factories.listing(organization, minimum_age=10, maximum_age=14)
    with pytest.raises(Invalid) as caught:
        await service.update_service(
            actor=SYSTEM, service_id=listing.id, version=1, data={"minimum_age": 16}
        )
    assert caught.value.fields == {"minimum_age": "must not be greater than maximum_age"}
    assert (await Service.get(id=listing.id)).minimum_age == 10


async def test_category_filter_includes_second_level(app):
    organization = await factories.organization()
    pantry = await factories.listing(organization, categories=["food-pantry"])
    meals = await factories.listing(organization, name="Hot meals", categories=["meals"])
    lawyer = await factories.listing(organization, name="Legal clinic", categories=["legal-aid"])
    food = await service.list_services(actor=None, category="food")
    assert {s.id for s in food.items} == {pantry.id, meals.id}
    legal = await service.list_services(actor=None, category="legal-aid")
    assert [s.id for s in legal.items] == [lawyer.id]


async def test_postal_code_filter_finds_locations_and_service_areas(app):
    organization = await factories.organization()
    local = await factories.listing(organization, name="Local pantry")  # located in 60623
    elsewhere = await factories.located(
        organization, postal_code="60640", latitude=41.97, longitude=-87.66
    )
    far = await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            name="Far pantry",
            organization_id=str(organization.id),
            location_ids=[str(elsewhere.id)],
        ),
    )
    county_wide = await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            name="Cook County hotline",
            organization_id=str(organization.id),
            service_areas=[
                {
                    "name": "Cook County",
                    "extent_type": "county",
                    "extent": "Cook County",
                    "state_province": "IL",
                }
            ],
        ),
    )
    zip_listed = await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            name="Delivery",
            organization_id=str(organization.id),
            service_areas=[{"name": "ZIP 60623", "extent_type": "postal_code", "extent": "60623"}],
        ),
    )
    kansas = await service.create_service(
        actor=SYSTEM,
        data=factories.service_data(
            name="Kansas line",
            organization_id=str(organization.id),
            service_areas=[{"name": "Kansas", "extent_type": "state", "extent": "KS"}],
        ),
    )
    found = await service.list_services(actor=None, postal_code="60623")
    assert {s.id for s in found.items} == {local.id, county_wide.id, zip_listed.id}
    in_kansas = await service.list_services(actor=None, postal_code="66101")
    assert {s.id for s in in_kansas.items} == {kansas.id}
    assert far.id not in {s.id for s in found.items}


async def test_hidden_listings_are_visible_only_to_their_editors(app):
    organization = await factories.organization()
    other = await factories.organization()
    hidden = await factories.listing(organization, status="inactive")
    closed = await factories.listing(organization, name="Closed", status="temporarily_closed")
    public = await service.list_services(actor=None)
    assert {s.id for s in public.items} == {closed.id}
    assert closed.status.value == "temporarily closed"
    editor = factories.actor(await factories.user(organization, "partner"))
    outsider = factories.actor(await factories.user(other, "partner"))
    own = await service.list_services(actor=editor, organization_id=organization.id)
    assert {s.id for s in own.items} == {hidden.id, closed.id}
    theirs = await service.list_services(actor=outsider, organization_id=organization.id)
    assert {s.id for s in theirs.items} == {closed.id}
    with pytest.raises(Forbidden):
        await service.get_service(actor=outsider, service_id=hidden.id)
    assert (await service.get_service(actor=editor, service_id=hidden.id)).id == hidden.id


async def test_paging(app):
    organization = await factories.organization()
    for number in range(5):
        await factories.listing(organization, name=f"Pantry {number}")
    first = await service.list_services(actor=None, per_page=2, page=1)
    last = await service.list_services(actor=None, per_page=2, page=3)
    assert first.total == 5
    assert [s.name for s in first.items] == ["Pantry 0", "Pantry 1"]
    assert [s.name for s in last.items] == ["Pantry 4"]
    with pytest.raises(Invalid) as caught:
        await service.list_services(actor=None, per_page=500, page=0)
    assert set(caught.value.fields) == {"page", "per_page"}


async def test_deleting_a_service_removes_its_parts(app):
    organization = await factories.organization()
    listing = await factories.listing(
        organization,
        phones=[{"number": "773-555-0101"}],
        service_areas=[{"name": "Z", "extent_type": "postal_code", "extent": "60623"}],
    )
    await service.delete_service(actor=SYSTEM, service_id=listing.id, version=1)
    assert not await Service.exists(id=listing.id)
    assert await Phone.filter(service_id=listing.id).count() == 0
    assert await ServiceArea.filter(service_id=listing.id).count() == 0
    assert await ListingChange.filter(service_id=listing.id, action="delete").count() == 1


async def test_link_rules(app):
    organization = await factories.organization()
    other = await factories.organization()
    listing = await factories.listing(organization)
    foreign = await factories.located(other)
    with pytest.raises(Invalid) as caught:
        await details.link_location(actor=SYSTEM, service_id=listing.id, location_id=foreign.id)
    assert "location_id" in caught.value.fields
