from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.reminders.stages import wait_timestamp
from chalicelib.zones import (
    FALLBACK_ZONE,
    POSTCODE_PREFIXES,
    Zone,
    local_date,
    local_to_utc,
    utc_cron_for_local,
    zone_for_postcode,
    zone_or_fallback,
)

WIB, WITA, WIT = Zone.WIB, Zone.WITA, Zone.WIT

# Every assigned two-digit region, with the zone it must map to (None = not assigned).
EXPECTED_BY_PREFIX = {
    **{f"{p:02d}": None for p in range(0, 10)},
    **{f"{p:02d}": WIB for p in range(10, 18)},   # Jakarta, Banten (Tangerang), Bogor/Depok/Bekasi
    "18": None, "19": None,
    **{f"{p:02d}": WIB for p in range(20, 30)},   # Sumatra north: Sumut, Aceh, Sumbar, Riau, Kepri
    **{f"{p:02d}": WIB for p in range(30, 40)},   # Sumatra south: Sumsel, Babel, Lampung, Jambi, Bengkulu
    **{f"{p:02d}": WIB for p in range(40, 47)},   # Jawa Barat and Banten
    "47": None, "48": None, "49": None,
    **{f"{p:02d}": WIB for p in range(50, 60)},   # Jawa Tengah, Yogyakarta
    **{f"{p:02d}": WIB for p in range(60, 70)},   # Jawa Timur
    "70": WITA, "71": WITA, "72": WITA,             # Kalimantan Selatan
    "73": WIB, "74": WIB,                           # Kalimantan Tengah
    "75": WITA, "76": WITA,                         # Kalimantan Timur
    "77": WITA,                                     # Kalimantan Utara
    "78": WIB, "79": WIB,                           # Kalimantan Barat
    **{f"{p:02d}": WITA for p in range(80, 88)},  # Bali, NTB, NTT
    "88": None, "89": None,
    **{f"{p:02d}": WITA for p in range(90, 97)},  # Sulawesi, Gorontalo
    "97": WIT,                                      # Maluku, Maluku Utara
    "98": WIT, "99": WIT,                           # Papua
}


@pytest.mark.parametrize("prefix", sorted(EXPECTED_BY_PREFIX))
def test_every_two_digit_region(prefix):
    assert zone_for_postcode(f"{prefix}111") is EXPECTED_BY_PREFIX[prefix]
    assert zone_for_postcode(f"{prefix}999") is EXPECTED_BY_PREFIX[prefix]


@pytest.mark.parametrize(
    ("postcode", "zone"),
    [
        ("10110", WIB),   # Jakarta Pusat
        ("78111", WIB),   # Pontianak, West Kalimantan
        ("73111", WIB),   # Palangka Raya, Central Kalimantan
        ("70111", WITA),  # Banjarmasin, South Kalimantan
        ("75117", WITA),  # Samarinda, East Kalimantan
        ("77111", WITA),  # Tarakan, North Kalimantan
        ("80361", WITA),  # Kuta, Bali
        ("90111", WITA),  # Makassar
        ("97128", WIT),   # Ambon
        ("97711", WIT),   # Ternate
        ("99111", WIT),   # Jayapura
        (" 99111 ", WIT),  # surrounding spaces are tolerated
    ],
)
def test_real_cities(postcode, zone):
    assert zone_for_postcode(postcode) is zone


@pytest.mark.parametrize("bad", [None, "", "1011", "101100", "1O110", "abcde", "10 11", "18234", "00123"])
def test_missing_or_malformed_is_none_and_falls_back(bad):
    assert zone_for_postcode(bad) is None
    assert zone_or_fallback(bad) == (FALLBACK_ZONE, True)


def test_mapping_table_covers_only_assigned_prefixes():
    assigned = {p for p, z in EXPECTED_BY_PREFIX.items() if z is not None}
    assert set(POSTCODE_PREFIXES) == assigned


def test_fallback_never_calls_before_eight_local():
    # 08:00 in the fallback zone is at or after 08:00 in every other zone
    day = date(2026, 1, 5)
    fallback_instant = local_to_utc(FALLBACK_ZONE, day, time(8))
    for zone in Zone:
        assert fallback_instant >= local_to_utc(zone, day, time(8))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
       st.times(), st.sampled_from(list(Zone)))
def test_local_to_utc_roundtrip_and_fixed_offset(day, at, zone):
    instant = local_to_utc(zone, day, at)
    assert instant.tzinfo == UTC
    # Indonesia has no DST: the offset is the same every day of every year
    assert instant + timedelta(hours=zone.utc_offset_hours) == datetime.combine(day, at, tzinfo=UTC)
    back = instant.astimezone(zone.tzinfo)
    assert (back.date(), back.time()) == (day, at)
    assert local_date(zone, instant) == day


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(0, 23), st.integers(0, 59), st.sampled_from(list(Zone)))
def test_wait_timestamp_is_exact_utc_form(day, hour, minute, zone):
    stamp = wait_timestamp(local_to_utc(zone, day, time(hour, minute)))
    assert len(stamp) == 20 and stamp.endswith("Z") and stamp[10] == "T"
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert parsed == local_to_utc(zone, day, time(hour, minute))


def test_eight_oclock_in_each_zone():
    day = date(2026, 11, 22)
    assert wait_timestamp(local_to_utc(WIB, day, time(8))) == "2026-11-22T01:00:00Z"
    assert wait_timestamp(local_to_utc(WITA, day, time(10))) == "2026-11-22T02:00:00Z"
    assert wait_timestamp(local_to_utc(WIT, day, time(12))) == "2026-11-22T03:00:00Z"
    # 08:00 WIT is still the previous day's 23:00 UTC
    assert wait_timestamp(local_to_utc(WIT, day, time(8))) == "2026-11-21T23:00:00Z"


def test_utc_cron_per_zone():
    assert utc_cron_for_local(WIB, time(8)) == "cron(0 1 * * ? *)"
    assert utc_cron_for_local(WITA, time(8)) == "cron(0 0 * * ? *)"
    assert utc_cron_for_local(WIT, time(8)) == "cron(0 23 * * ? *)"


def test_naive_input_refused():
    with pytest.raises(ValueError):
        local_date(WIB, datetime(2026, 1, 1, 8))
    with pytest.raises(ValueError):
        local_to_utc(WIB, date(2026, 1, 1), time(8, tzinfo=UTC))


def test_parse_zone():
    assert Zone.parse("WITA") is WITA
    assert Zone.parse("Asia/Jayapura") is WIT
    with pytest.raises(ValueError):
        Zone.parse("UTC")
