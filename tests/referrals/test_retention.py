"""Retention: closed referrals lose the family's details after the period; counts stay."""

from dataclasses import replace
from datetime import timedelta

from caremap.mail import sweep_once
from directory.claims import now
from referrals.models import AuditEntry, HelpRequest, HelpRequestStatus, Referral, ReferralEvent
from tests.referrals.conftest import PERSON, move, refer


async def test_closed_referrals_are_purged_after_the_period_and_open_ones_kept(loop, settings):
    old = await refer(loop, note="Dad works nights; call after 4pm.")
    await move(loop.partner, old, "rejected", reason="no_capacity")
    recent = await refer(loop)
    await move(loop.partner, recent, "rejected", reason="out_of_area")
    still_open = await refer(loop)
    long_ago = now() - timedelta(days=731)
    await Referral.filter(id__in=[old["id"], still_open["id"]]).update(updated_at=long_ago)
    await HelpRequest.create(
        school_organization_id=loop.school.id,
        need="food",
        contact_method="phone",
        contact_value="(773) 555-0142",
        message="We need food for the weekend",
        status=HelpRequestStatus.HANDLED,
        created_at=long_ago,
    )
    await HelpRequest.filter().update(created_at=long_ago)

    await sweep_once(replace(settings, retention_days=730))

    purged = await Referral.get(id=old["id"])
    assert (purged.person_name, purged.contact_value, purged.contact_times) == ("", None, None)
    assert purged.purged_at is not None
    assert (purged.status.value, purged.reason, purged.age_band, purged.needs) == (
        "rejected",
        "no_capacity",
        PERSON["age_band"],
        ["food-pantry"],
    )
    assert purged.updated_at == long_ago  # the close date still dates it for reports
    notes = await ReferralEvent.filter(referral_id=old["id"]).values_list("note", flat=True)
    assert not any(n and "nights" in n for n in notes)
    assert await AuditEntry.filter(referral_id=old["id"], action="purge").count() == 1
    for kept in (recent, still_open):
        assert (await Referral.get(id=kept["id"])).person_name == PERSON["name"]
    request = await HelpRequest.get()
    assert (request.contact_value, request.message) == (None, None)

    # The page says so, and a second sweep changes nothing.
    page = await loop.specialist.get(f"/referrals/{old['id']}")
    assert "Personal details were removed" in page.text
    assert PERSON["contact_value"] not in page.text
    await sweep_once(replace(settings, retention_days=730))
    assert await AuditEntry.filter(referral_id=old["id"], action="purge").count() == 1
