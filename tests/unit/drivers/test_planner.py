"""Read planning: fewest requests within the protocol limits and the profile's quirks."""

from __future__ import annotations

from typing import Any

from drivers.base import ReadRequest
from drivers.planner import format_plan, plan_per_point, plan_reads, rtu_transaction_s
from drivers.profiles import Profile


def profile(points: list[dict[str, Any]], **quirks: Any) -> Profile:
    return Profile.model_validate(
        {
            "id": "t",
            "manufacturer": "m",
            "model": "m",
            "source": "test",
            "quirks": quirks,
            "points": [{"quantity": "flow", **p} for p in points],
        }
    )


def pt(name: str, address: int, type_: str = "uint16", **kw: Any) -> dict[str, Any]:
    return {"name": name, "address": address, "type": type_, **kw}


def test_contiguous_points_make_one_request() -> None:
    p = profile([pt("a", 0, "float32"), pt("b", 2, "float32"), pt("c", 4, "int16")])
    assert plan_reads(p) == [ReadRequest("holding", 0, 5, ("a", "b", "c"))]


def test_points_are_sorted_by_address() -> None:
    p = profile([pt("c", 4), pt("a", 0, "float32"), pt("b", 2, "float32")])
    assert plan_reads(p) == [ReadRequest("holding", 0, 5, ("a", "b", "c"))]


def test_small_gap_is_read_over_large_gap_splits() -> None:
    p = profile([pt("a", 0), pt("b", 9), pt("c", 30)], max_gap=8)
    assert plan_reads(p) == [
        ReadRequest("holding", 0, 10, ("a", "b")),
        ReadRequest("holding", 30, 1, ("c",)),
    ]


def test_max_gap_zero_reads_only_contiguous_registers() -> None:
    p = profile([pt("a", 0), pt("b", 1), pt("c", 3)], max_gap=0)
    assert plan_reads(p) == [
        ReadRequest("holding", 0, 2, ("a", "b")),
        ReadRequest("holding", 3, 1, ("c",)),
    ]


def test_protocol_limit_of_125_registers() -> None:
    p = profile([pt(f"r{i}", i * 2, "float32") for i in range(100)])  # 200 registers
    plan = plan_reads(p)
    assert [r.count for r in plan] == [124, 76]
    assert all(r.count <= 125 for r in plan)
    assert sum(len(r.points) for r in plan) == 100


def test_profile_max_registers_per_read() -> None:
    p = profile([pt(f"r{i}", i) for i in range(10)], max_registers_per_read=4)
    assert [(r.address, r.count) for r in plan_reads(p)] == [(0, 4), (4, 4), (8, 2)]


def test_a_point_is_never_split_across_requests() -> None:
    p = profile([pt("a", 0), pt("b", 1, "float64"), pt("c", 5)], max_registers_per_read=4)
    assert [(r.address, r.count, r.points) for r in plan_reads(p)] == [
        (0, 1, ("a",)),
        (1, 4, ("b",)),
        (5, 1, ("c",)),
    ]


def test_forbidden_addresses_are_not_read_over() -> None:
    p = profile([pt("a", 0), pt("b", 2)], forbidden=[{"start": 1, "end": 1}])
    assert plan_reads(p) == [
        ReadRequest("holding", 0, 1, ("a",)),
        ReadRequest("holding", 2, 1, ("b",)),
    ]


def test_forbidden_range_of_another_table_does_not_split() -> None:
    p = profile([pt("a", 0), pt("b", 2)], forbidden=[{"start": 1, "end": 1, "table": "input"}])
    assert len(plan_reads(p)) == 1


def test_tables_are_planned_separately() -> None:
    p = profile([pt("h", 0), pt("i", 1, table="input"), pt("c", 0, "bool", table="coil")])
    assert plan_reads(p) == [
        ReadRequest("holding", 0, 1, ("h",)),
        ReadRequest("input", 1, 1, ("i",)),
        ReadRequest("coil", 0, 1, ("c",)),
    ]


def test_bits_of_one_register_share_a_request() -> None:
    p = profile([pt("b0", 10, "bool", bit=0), pt("b3", 10, "bool", bit=3), pt("v", 11)])
    assert plan_reads(p) == [ReadRequest("holding", 10, 2, ("b0", "b3", "v"))]


def test_coils_merge_within_the_bit_limit() -> None:
    p = profile([pt(f"c{i}", i * 100, "bool", table="coil") for i in range(30)])
    plan = plan_reads(p)
    assert all(r.count <= 2000 for r in plan)
    assert len(plan) == 2  # 0..2000 then 2000..2900, gaps of 99 bits <= 8 * 16


def test_one_request_per_point_quirk() -> None:
    p = profile([pt("a", 0), pt("b", 1)], one_request_per_point=True)
    assert len(plan_reads(p)) == 2
    assert plan_per_point(p) == plan_reads(p)


def test_bus_time_of_a_9600_baud_read() -> None:
    # 8-byte request + 9-byte answer (2 registers) at 1.04 ms per char, 2 x 3.5 chars
    # of silence, 5 ms turnaround: about 30 ms, the figure field engineers quote.
    t = rtu_transaction_s(ReadRequest("holding", 0, 2, ("a",)), 9600)
    assert 0.025 < t < 0.035


def test_format_plan_lists_requests_and_totals() -> None:
    p = profile([pt("a", 0), pt("b", 1)])
    text = format_plan(p)
    assert "1 request(s)" in text
    assert "a, b" in text
    assert "one request per point: 2 request(s)" in text
