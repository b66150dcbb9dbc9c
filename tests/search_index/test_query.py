"""Search query helpers that pages use directly."""

from datetime import UTC, datetime

from search_index.query import next_opening


def test_next_opening_is_the_earliest_coming_start_in_the_services_own_time():
    hours = [
        {"byday": "TU,TH", "opens_at": "09:00", "closes_at": "17:00"},
        {"byday": "SA", "opens_at": "10:00", "closes_at": "12:00", "timezone_name": "UTC"},
    ]
    monday_noon_chicago = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    assert next_opening(hours, monday_noon_chicago).isoformat() == "2026-11-24T09:00:00-06:00"
    tuesday_8am_chicago = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
    assert next_opening(hours, tuesday_8am_chicago).hour == 9  # later the same day
    friday = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert next_opening(hours, friday).isoformat() == "2026-11-28T10:00:00+00:00"
    ended = [{**hours[0], "valid_to": "2026-11-23"}]
    assert next_opening(ended, monday_noon_chicago) is None
    assert next_opening([{"freq": "MONTHLY", "byday": "2MO", "opens_at": "09:00"}], friday) is None
