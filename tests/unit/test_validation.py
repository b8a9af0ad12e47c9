"""Order validation: every check, anywhere on earth, with measured distances."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyproj import Geod

from emon.geofence.validation import validate
from emon.orders import OrderFormatError

GEOD = Geod(ellps="WGS84")


def order(lat=51.93, lon=4.49, radius=1000, residence_m=3000, **changes):
    res_lon, res_lat, _ = GEOD.fwd(lon, lat, 225, residence_m)
    data = {
        "order_id": "OM-1",
        "risk": "high",
        "valid_from": "2026-11-01T00:00:00Z",
        "valid_until": "2027-05-01T00:00:00Z",
        "timezone": "Europe/Amsterdam",
        "offender": {
            "person_id": "P-1",
            "device_id": "am-1",
            "residence": {"type": "Point", "coordinates": [res_lon, res_lat]},
        },
        "victims": [
            {
                "person_id": "V-1",
                "device_id": "vd-1",
                "address": {"type": "Point", "coordinates": [lon, lat]},
            }
        ],
        "zones": [
            {
                "zone_id": "Z-1",
                "type": "exclusion",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "radius_m": radius,
            }
        ],
        "contact_ban": {"distance_m": 1000, "prealert_m": 2000},
    }
    data.update(changes)
    return data


def codes(report):
    return {f.code for f in report.findings}


def square(lat, lon, half, hole=None):
    ring = []
    for az in (45, 135, 225, 315, 45):
        x, y, _ = GEOD.fwd(lon, lat, az, half * 2**0.5)
        ring.append([x, y])
    rings = [ring]
    if hole:
        rings.append(square(lat, lon, hole)["coordinates"][0][::-1])
    return {"type": "Polygon", "coordinates": rings}


def test_a_good_order_is_enforceable():
    report = validate(order())
    assert report.enforceable and report.findings == []


def test_the_classic_500_m_zone_fails_with_measured_distances_and_a_radius_suggestion():
    report = validate(order(radius=500, residence_m=5000))
    (finding,) = report.findings
    assert finding.code == "protected_margin" and finding.severity == "error"
    assert finding.measured_m == pytest.approx(500, abs=0.5)
    assert finding.required_m == 1000
    (suggestion,) = report.suggestions
    assert suggestion.values["radius_m"] == 1000


@given(
    st.floats(-70, 70),
    st.floats(-179, 179),
    st.floats(100, 990),
    st.floats(0, 360),
    st.floats(0, 0.9),
)
def test_protected_margin_is_geodesic_anywhere(lat, lon, radius, bearing, off_centre):
    """The victim's address off the circle's centre: margin = radius - distance."""
    shift = radius * off_centre
    v_lon, v_lat, _ = GEOD.fwd(lon, lat, bearing, shift)
    data = order(lat, lon, radius, residence_m=20_000)
    data["victims"][0]["address"]["coordinates"] = [v_lon, v_lat]
    finding = next(f for f in validate(data).findings if f.code == "protected_margin")
    assert finding.measured_m == pytest.approx(radius - shift, abs=0.5)


@given(st.floats(-70, 70), st.floats(-179, 179), st.floats(300, 900))
def test_polygon_margin_is_geodesic_anywhere(lat, lon, half):
    data = order(lat, lon)
    data["zones"][0] = {"zone_id": "P", "type": "exclusion", "geometry": square(lat, lon, half)}
    finding = next(f for f in validate(data).findings if f.code == "protected_margin")
    assert finding.measured_m == pytest.approx(half, abs=0.5)
    assert "geometry" in validate(data).suggestions[0].values


def test_polygon_with_a_hole_around_the_victim_does_not_protect_her():
    data = order()
    data["zones"][0] = {
        "zone_id": "P",
        "type": "exclusion",
        "geometry": square(51.93, 4.49, 3000, hole=200),
    }
    assert "protected_margin" not in codes(validate(data))  # the address is in the hole


def test_residence_inside_or_near_a_zone():
    inside = validate(order(residence_m=500))
    finding = next(f for f in inside.findings if f.code == "residence_clearance")
    assert finding.measured_m == pytest.approx(-500, abs=0.5)
    near = validate(order(residence_m=1800))
    finding = next(f for f in near.findings if f.code == "residence_clearance")
    assert finding.measured_m == pytest.approx(800, abs=0.5) and finding.required_m == 1000


def test_no_zone_fits_between_victim_and_residence_suggests_a_contact_ban():
    report = validate(order(radius=500, residence_m=1800))
    reshape = [s for s in report.suggestions if s.values.get("contact_ban")]
    assert reshape and reshape[0].values["geometry"]["type"] in ("Polygon", "MultiPolygon")


@pytest.mark.parametrize(
    "geometry, radius",
    [
        (
            {
                "type": "Polygon",
                "coordinates": [
                    [[4.40, 51.90], [4.50, 52.00], [4.50, 51.90], [4.40, 52.00], [4.40, 51.90]]
                ],
            },
            None,
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[4.40, 51.90], [4.50, 51.90], [4.50, 52.00], [4.40, 52.00]]],
            },
            None,
        ),
        (
            {
                "type": "Polygon",
                "coordinates": [[[4.4, 91.0], [4.5, 51.9], [4.5, 52.0], [4.4, 91.0]]],
            },
            None,
        ),
        ({"type": "Point", "coordinates": [4.49, 51.93]}, None),
    ],
    ids=["self_intersecting", "unclosed", "out_of_range", "circle_without_radius"],
)
def test_invalid_geometry(geometry, radius):
    data = order()
    data["zones"][0] = {
        "zone_id": "Z-9",
        "type": "exclusion",
        "geometry": geometry,
        "radius_m": radius,
    }
    report = validate(data)
    assert "invalid_geometry" in codes(report) and not report.usable


def test_swapped_longitude_and_latitude_lands_far_away_and_says_so():
    data = order()
    data["zones"][0]["geometry"]["coordinates"] = [51.93, 4.49]
    finding = next(f for f in validate(data).findings if f.code == "zone_far_from_order")
    assert finding.severity == "error" and "swapped" in finding.message


def test_invalid_validity():
    report = validate(order(valid_until="2026-10-01T00:00:00Z"))
    assert "invalid_validity" in codes(report) and not report.usable


def curfew(zone_id, lon, lat, days, start="22:00", end="06:00", radius=150):
    return {
        "zone_id": zone_id,
        "type": "inclusion",
        "radius_m": radius,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "schedule": [{"days": days, "start": start, "end": end}],
    }


def test_inclusion_and_exclusion_overlapping_in_time():
    data = order(residence_m=3000)
    res = data["offender"]["residence"]["coordinates"]
    data["zones"].append(curfew("HOME", *res, ["mon"], radius=2500))
    report = validate(data)
    conflict = next(f for f in report.findings if f.code == "zone_conflict")
    assert "mon 22:00" in conflict.message


def test_schedules_overlapping_only_on_some_days():
    data = order()
    res = data["offender"]["residence"]["coordinates"]
    far_lon, far_lat, _ = GEOD.fwd(res[0], res[1], 0, 5000)
    data["zones"].append(curfew("HOME", *res, ["mon", "tue", "wed", "thu", "fri"]))
    data["zones"].append(curfew("CARE", far_lon, far_lat, ["sat", "sun"]))
    assert "schedule_conflict" not in codes(validate(data))
    data["zones"][-1] = curfew("CARE", far_lon, far_lat, ["fri"], "23:00", "05:00")
    finding = next(f for f in validate(data).findings if f.code == "schedule_conflict")
    assert "fri 23:00" in finding.message


def test_small_zones_and_contact_bans():
    data = order()
    data["zones"].append({"zone_id": "N", "type": "exclusion", "geometry": square(52.2, 4.8, 40)})
    data["zones"].append(curfew("HOME", 4.3, 51.8, ["mon"], radius=30))
    data["contact_ban"] = {"distance_m": 300, "prealert_m": 200}
    report = validate(data)
    assert {
        "zone_too_narrow",
        "inclusion_too_small",
        "contact_ban_distance",
        "contact_ban_prealert",
    } <= codes(report)
    narrow = next(f for f in report.findings if f.code == "zone_too_narrow")
    assert narrow.measured_m == pytest.approx(80, abs=1)


def test_prealert_ring_over_the_residence_and_regular_places():
    data = order(residence_m=2300)  # 1,300 m outside: clear of the zone, not of the ring
    data["zones"][0]["prealert_m"] = 1500
    work_lon, work_lat, _ = GEOD.fwd(4.49, 51.93, 90, 300)
    data["offender"]["places"] = [
        {"name": "work", "geometry": {"type": "Point", "coordinates": [work_lon, work_lat]}}
    ]
    assert {"prealert_covers_residence", "regular_place_excluded"} <= codes(validate(data))


def test_residence_cut_off_by_surrounding_zones():
    data = order(residence_m=3000)
    res_lon, res_lat = data["offender"]["residence"]["coordinates"]
    ring = {
        "type": "Polygon",
        "coordinates": [
            square(res_lat, res_lon, 6000)["coordinates"][0],
            square(res_lat, res_lon, 1500)["coordinates"][0][::-1],
        ],
    }
    data["zones"].append({"zone_id": "RING", "type": "exclusion", "geometry": ring})
    assert "residence_cut_off" in codes(validate(data))


def test_dutch_messages():
    report = validate(order(radius=500, residence_m=5000), lang="nl")
    assert "slachtoffer" in report.findings[0].message


def test_unreadable_orders_raise_a_format_error():
    with pytest.raises(OrderFormatError):
        validate({"order_id": "x"})
    bad = copy.deepcopy(order())
    bad["valid_from"] = "tomorrow"
    with pytest.raises(OrderFormatError):
        validate(bad)


def test_multipolygon_zone_margin_is_measured_in_the_part_holding_the_address():
    data = order(lat=-33.9, lon=18.4, residence_m=20_000)  # Cape Town
    near = square(-33.9, 18.4, 600)
    far_lon, far_lat, _ = GEOD.fwd(18.4, -33.9, 90, 5000)
    other = square(far_lat, far_lon, 2000)
    data["zones"][0] = {
        "zone_id": "M",
        "type": "exclusion",
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [near["coordinates"], other["coordinates"]],
        },
    }
    report = validate(data)
    finding = next(f for f in report.findings if f.code == "protected_margin")
    assert finding.measured_m == pytest.approx(600, abs=0.5)
    assert report.suggestions[0].values["geometry"]["type"] in ("Polygon", "MultiPolygon")


@given(st.floats(-60, 60), st.one_of(st.floats(179.5, 180), st.floats(-180, -179.5)),
       st.floats(0, 360), st.floats(5, 900))  # fmt: skip
def test_a_polygon_across_the_antimeridian_is_measured_where_it_is(lat, lon, azimuth, metres):
    """A 2 km square drawn with corners on both sides of 180 degrees: the victim's
    margin is measured to its real edge, not from the far side of the earth."""
    corners = [GEOD.fwd(lon, lat, az, 1000 * 2**0.5)[:2] for az in (45, 135, 225, 315, 45)]
    victim_lon, victim_lat, _ = GEOD.fwd(lon, lat, azimuth, metres)
    data = order(lat=victim_lat, lon=victim_lon)
    data["zones"][0] = {"zone_id": "Z-1", "type": "exclusion",
                        "geometry": {"type": "Polygon", "coordinates": [corners]}}  # fmt: skip
    report = validate(data)
    codes = {f.code for f in report.findings}
    assert "invalid_geometry" not in codes and "zone_far_from_order" not in codes
    (margin,) = [f for f in report.findings if f.code == "protected_margin"]
    # to the edge of a square of half-side h from a point m off its centre: h - m to h - m/sqrt 2
    assert 1000 - metres - 1 <= margin.measured_m <= 1000 - metres / 2**0.5 + 1
