"""Search query helpers that pages use directly."""

from datetime import UTC, datetime

from search_index.query import (
    MAX_PHRASE_WORDS,
    need_words,
    next_opening,
    synonym_groups,
    words_of,
)


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


def test_synonym_phrases_are_short_enough_for_both_backends():
    """Meilisearch looks synonyms up for terms of one to three words only, so a longer phrase
    would find its group on the embedded index and nothing on Meilisearch."""
    too_long = [p for group in synonym_groups() for p in group if len(p.split()) > MAX_PHRASE_WORDS]
    assert too_long == []


def test_words_of_every_script_fold_as_the_index_folds_them():
    assert words_of("Thực phẩm, đồ ăn") == ["thuc", "pham", "do", "an"]
    assert words_of("طعام 食物 Cunto") == ["طعام", "食物", "cunto"]
    assert words_of("Łódź, Straße") == ["lodz", "strasse"]


def test_stop_words_inside_a_synonym_phrase_are_kept():
    assert need_words("banco de comida cerca") == ["banco", "de", "comida"]
    assert need_words("help with the rent") == ["rent"]
    assert need_words("the") == ["the"]  # nothing else is left
