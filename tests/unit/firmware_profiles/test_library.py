"""Every shipped firmware profile loads, names its source, plans and round-trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from drivers.base import MAX_REGISTERS_PER_READ
from drivers.decode import decode_point, encode_point
from drivers.device import decode_all
from drivers.planner import plan_reads
from drivers.profiles import PointSpec, Profile, load_profiles, packaged_profile_files

PROFILES = load_profiles([])
MODBUS = {pid: p for pid, p in PROFILES.items() if p.protocol == "modbus"}
REAL = {pid: p for pid, p in PROFILES.items() if not pid.startswith("generic-")}


def test_at_least_ten_real_sensor_profiles() -> None:
    assert len(REAL) >= 10, sorted(REAL)


def test_profiles_cover_the_lifeline_quantities() -> None:
    quantities = {p.quantity for prof in REAL.values() for p in prof.points}
    for q in ("pressure", "methane_lel", "level", "flow", "rain", "turbidity", "ph"):
        assert q in quantities, q


@pytest.mark.parametrize("path", packaged_profile_files(), ids=lambda p: p.stem)
def test_file_name_is_the_id_and_header_names_the_source(path: object) -> None:
    assert isinstance(path, Path)
    profile = PROFILES[path.stem]
    text = path.read_text()
    assert text.startswith("## "), "a header comment explains the device and its quirks"
    assert len(profile.source) > 10


@pytest.mark.parametrize("profile", PROFILES.values(), ids=lambda p: p.id)
def test_plan_stays_within_limits(profile: Profile) -> None:
    plan = plan_reads(profile)
    if profile.protocol == "line":
        assert plan == []  # a line sensor has no registers
        return
    covered = {n for r in plan for n in r.points}
    assert covered == {p.name for p in profile.points}
    for r in plan:
        assert r.count <= min(MAX_REGISTERS_PER_READ, profile.quirks.max_registers_per_read)


def _sample(spec: PointSpec) -> float:
    if spec.type == "bool":
        return 1.0
    if spec.range is not None:
        lo, hi = spec.range
        return lo + (hi - lo) * 0.3
    return 3.0


@pytest.mark.parametrize("profile", MODBUS.values(), ids=lambda p: p.id)
def test_every_point_round_trips_through_its_registers(profile: Profile) -> None:
    values = {p.name: _sample(p) for p in profile.points}
    for p in profile.points:
        if p.decimals_from is not None:
            values[p.decimals_from] = 2.0
    for p in profile.points:
        if p.valid_if is not None:
            values[p.valid_if.point] = p.valid_if.values[0]
    raw: dict[str, list[int] | str] = {}
    for p in profile.points:
        decimals = values[p.decimals_from] if p.decimals_from else None
        raw[p.name] = encode_point(p, values[p.name], decimals=decimals)
    for v in decode_all(raw, profile):
        assert v.quality == "good", (v, values[v.name])
        spec = profile.point(v.name)
        tolerance = max(abs(spec.scale), 1e-6 * abs(values[v.name]), 1e-4)
        assert v.value == pytest.approx(values[v.name], abs=tolerance)


def test_ptmb_value_is_scaled_by_its_decimals_register() -> None:
    prof = PROFILES["ptmb-pressure"]
    raw: dict[str, list[int] | str] = {
        "unit_code": [1],
        "decimals": [3],
        "pressure": [456],
        "range_low": [0],
        "range_high": [1600],
    }
    got = {v.name: v for v in decode_all(raw, prof)}
    assert got["pressure"].value == pytest.approx(0.456)
    assert got["range_high"].value == pytest.approx(1.6)
    raw["decimals"] = [1]
    got = {v.name: v for v in decode_all(raw, prof)}
    assert got["pressure"].value == pytest.approx(45.6)
    assert got["pressure"].reason == "out of range"


def test_ptmb_unknown_decimals_make_the_value_bad() -> None:
    prof = PROFILES["ptmb-pressure"]
    raw: dict[str, list[int] | str] = {"decimals": [9], "pressure": [456]}
    got = {v.name: v for v in decode_all(raw, prof)}
    assert got["decimals"].quality == "bad"  # out of its 0..3 range
    assert math.isnan(got["pressure"].value)
    assert got["pressure"].reason == "decode error: decimals None from decimals"
    raw = {"decimals": "timeout", "pressure": [456]}
    got = {v.name: v for v in decode_all(raw, prof)}
    assert (got["pressure"].quality, got["decimals"].reason) == ("bad", "timeout")


def test_xintai_flow_is_bad_while_the_pipe_is_empty() -> None:
    prof = PROFILES["xintai-water-meter"]
    flow = prof.point("flow")
    raw: dict[str, list[int] | str] = {"flow": encode_point(flow, 0.545), "pipe_status": [0x55]}
    got = {v.name: v for v in decode_all(raw, prof)}
    assert (got["flow"].quality, got["flow"].reason) == ("bad", "pipe empty")
    assert got["flow"].value == pytest.approx(0.545, abs=1e-6)
    raw["pipe_status"] = [0xAA]
    assert {v.name: v for v in decode_all(raw, prof)}["flow"].quality == "good"
    raw["pipe_status"] = "timeout"
    got = {v.name: v for v in decode_all(raw, prof)}
    assert (got["flow"].quality, got["flow"].reason) == ("uncertain", "status pipe_status unknown")


def test_xintai_example_bytes_decode_as_documented() -> None:
    flow = PROFILES["xintai-water-meter"].point("flow")
    assert decode_point(flow, [0x1E85, 0x0B3F])[0] == pytest.approx(0.545, abs=1e-6)


def test_tuf2000m_example_bytes_decode_as_documented() -> None:
    t = PROFILES["tuf-2000m"].point("temperature_inlet")
    assert decode_point(t, [0x806B, 0x4212])[0] == pytest.approx(36.625, abs=1e-3)


def test_yosemitech_sentinel_is_bad() -> None:
    ph = PROFILES["yosemitech-y4000"].point("ph")
    value, quality, reason = decode_point(ph, encode_point(ph, -9999.0))
    assert math.isnan(value)
    assert (quality, reason) == ("bad", "no value (sentinel -9999)")
