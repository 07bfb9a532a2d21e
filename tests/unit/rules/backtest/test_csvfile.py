"""The fast readings-CSV reader gives what the csv-module reader gives, bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.backtest.csvfile import read_csv, read_csv_careful, read_csv_fast
from rules.backtest.readings import Readings
from rules.errors import RuleError
from tests.unit.rules.backtest.support import same

DATA = Path(__file__).resolve().parents[3] / "data" / "detection"


def check(path: Path, *, fast: bool) -> None:
    same(read_csv(path), read_csv_careful(path))
    assert (read_csv_fast(path) is not None) is fast


@pytest.mark.parametrize("scenario", ["drain_storm_p5", "water_burst_main"])
def test_real_scenarios_read_fast_and_the_same(scenario: str) -> None:
    check(DATA / scenario / "readings.csv", fast=True)


CASES = {
    "plain": ("ts,point,value\n2,b/x,1.5\n1,a/x,-0.25\n", True),
    "quality column, any order, CRLF": (
        "point,quality,ts,value\r\na/x,BAD,1,1\r\nb/x,,2,2\r\na/x,False,3,\r\nb/x, 0 ,4,0.1\r\n"
        "a/x,good,5,7\r\n",
        True,
    ),
    "blank lines and no final newline": ("ts,point,value\n\n1,a/x,1\n\n\n2,b/x,2", True),
    "iso timestamps on some lines": (
        "ts,point,value\n1700000000000,a/x,1\n2023-11-14T22:13:20Z,b/x,2\n"
        "2023-11-14T22:13:21,a/x,3\n2023-11-14T22:13:22+02:00,c/x,4\n",
        True,
    ),
    "odd numbers": (
        "ts,point,value\n1e3,a/x,1e-3\n2.7,a/x,nan\n3,a/x,-inf\n4,a/x,1_000\n5,a/x,-0\n"
        "6,a/x,0.1000000000000000055511151231257827\n7,a/x,123456789012345678\n"
        "8,a/x, 9007199254740993 \n9,a/x,.5\n10,a/x,5.\n",
        True,
    ),
    "short rows and spaces": ("ts,point,value,quality\n1, a/x ,1\n2,\ta/x\t,2,bad\n", True),
    "quoted fields": ('ts,point,value\n1,"a/x",1\n"2","b,y/x","2.5"\n', False),
    "extra column": ("ts,point,value,unit\n1,a/x,1,MPa\n", False),
    "non-ascii point": ("ts,point,value\n1,pümpe/ü,1\n2,\u00a0a/x\u00a0,2\n", True),
}


def test_a_file_of_iso_timestamps_goes_to_the_careful_reader(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    rows = (f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z,p{i % 7}/x,{i / 3}\n" for i in range(3000))
    path.write_text("ts,point,value\n" + "".join(rows))
    check(path, fast=False)
    assert len(read_csv(path)) == 3000


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_cases_read_the_same(tmp_path: Path, name: str) -> None:
    text, fast = CASES[name]
    path = tmp_path / "r.csv"
    path.write_bytes(text.encode())
    check(path, fast=fast)


@pytest.mark.parametrize(
    "text",
    [
        "ts,point,value\n1,a/x,abc\n",
        "ts,point,value\nx,a/x,1\n",
        "ts,point\n1,a/x\n",
        "ts,point,quality\n1,a/x,good\n",
    ],
)
def test_bad_rows_raise_the_careful_readers_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(RuleError) as careful:
        read_csv_careful(path)
    with pytest.raises(RuleError) as fast:
        read_csv(path)
    assert str(fast.value) == str(careful.value)


number = st.one_of(
    st.integers(-(10**18), 10**18).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str),
    st.sampled_from(["", " 1.5", "-0.0", "0.30000000000000004", "1.", ".25", "+3"]),
)
ts = st.one_of(
    st.integers(0, 2**53 + 10).map(str),
    st.floats(0, 2e12, allow_nan=False).map(repr),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01 00:00:01.5", " 17 "]),
)
row = st.tuples(
    ts, st.sampled_from(["a/x", "b/y", " c/z", "d/ü"]), number,
    st.sampled_from(["", "good", "BAD", "0", "1", "false", " bad "]),
    st.sampled_from(["\n", "\r\n", "\n\n"]),
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(row, max_size=30))
def test_random_rows_read_the_same(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:  # type: ignore[type-arg]
    path = tmp_path_factory.mktemp("csv") / "r.csv"
    path.write_text(
        "ts,point,value,quality\n" + "".join(f"{t},{p},{v},{q}{nl}" for t, p, v, q, nl in rows),
        newline="",
    )
    try:
        careful: Readings | str = read_csv_careful(path)
    except RuleError as err:
        careful = str(err)
    try:
        fast: Readings | str = read_csv(path)
    except RuleError as err:
        fast = str(err)
    if isinstance(careful, str) or isinstance(fast, str):
        assert fast == careful
    else:
        same(fast, careful)


def test_bad_row_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("ts,point,value\n0,a/b,1.0\nyesterday,a/b,2.0\n")
    with pytest.raises(RuleError) as info:
        read_csv(tmp_path / "bad.csv")
    assert info.value.problems[0].loc == "line 3"


def test_missing_columns_are_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("time,sensor,reading\n")
    with pytest.raises(RuleError, match="missing columns"):
        read_csv(tmp_path / "bad.csv")
