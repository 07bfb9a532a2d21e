"""Profile loading: packaged profiles, extra files and folders, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import ProfileError
from drivers.profiles import load_profile, load_profiles

GOOD = """
id = "test-pt"
manufacturer = "acme"
model = "PT-1"
source = "test"

[[points]]
name = "pressure"
quantity = "pressure"
unit = "MPa"
address = 0
type = "float32"
range = [0.0, 1.6]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def problems(err: pytest.ExceptionInfo[ProfileError]) -> list[tuple[str, str, str]]:
    return err.value.problems


def test_packaged_profiles_load() -> None:
    profiles = load_profiles([])
    for pid in ("generic-pressure-float32", "generic-level-int16", "generic-gas-lel-int16"):
        assert pid in profiles
        assert profiles[pid].source
    pt = profiles["generic-pressure-float32"].point("pressure")
    assert (pt.type, pt.byte_order, pt.unit, pt.range) == ("float32", "ABCD", "MPa", (0.0, 1.6))


def test_extra_files_and_folders_are_added(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    write(folder / "a.toml", GOOD)
    write(tmp_path / "b.toml", GOOD.replace('"test-pt"', '"test-pt-b"'))
    profiles = load_profiles([folder, tmp_path / "b.toml"])
    assert {"test-pt", "test-pt-b", "generic-level-int16"} <= set(profiles)
    assert profiles["test-pt"].path == folder / "a.toml"


def test_unknown_type_names_file_key_and_allowed_values(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.toml", GOOD.replace('type = "float32"', 'type = "float"'))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(file, loc, msg)] = problems(err)
    assert file == str(f)
    assert loc == "points[0].type"
    assert "'float32'" in msg
    assert "'int64'" in msg


def test_unknown_key_is_reported(tmp_path: Path) -> None:
    f = write(tmp_path / "bad.toml", GOOD.replace("address = 0", "address = 0\nadress = 1"))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert problems(err) == [
        (str(f), "points[0].adress", "unknown key (not allowed here; check the spelling)")
    ]


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    f = write(tmp_path / "broken.toml", "id = \n")
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(file, loc, msg)] = problems(err)
    assert (file, loc) == (str(f), "")
    assert msg.startswith("not valid TOML")


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", GOOD)
    b = write(tmp_path / "b.toml", GOOD)
    with pytest.raises(ProfileError) as err:
        load_profiles([a, b])
    assert problems(err) == [(str(b), "id", f"duplicate profile id 'test-pt' (also in {a})")]


def test_duplicate_of_a_packaged_id_is_refused(tmp_path: Path) -> None:
    f = write(tmp_path / "x.toml", GOOD.replace('"test-pt"', '"generic-level-int16"'))
    with pytest.raises(ProfileError) as err:
        load_profiles([f])
    assert problems(err)[0][:2] == (str(f), "id")


def test_every_problem_of_every_file_is_collected(tmp_path: Path) -> None:
    a = write(tmp_path / "a.toml", GOOD.replace("address = 0", "address = -1"))
    b = write(tmp_path / "b.toml", GOOD.replace('byte_order = "ABCD"\n', "") + 'scale = "x"\n')
    missing = tmp_path / "nope"
    with pytest.raises(ProfileError) as err:
        load_profiles([a, b, missing])
    got = {(f, loc) for f, loc, _ in problems(err)}
    assert (str(missing), "") in got
    assert (str(a), "points[0].address") in got
    assert str(b) in {f for f, _ in got}


def test_missing_keys_are_named(tmp_path: Path) -> None:
    f = write(tmp_path / "m.toml", GOOD.replace('source = "test"\n', ""))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert problems(err) == [(str(f), "source", "required key is missing")]


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('type = "float32"', 'type = "float32"\nbyte_order = "BA"', "is for 16-bit types"),
        ("range = [0.0, 1.6]", "range = [1.6, 0.0]", "low < high"),
        ('type = "float32"', 'type = "bool"', "needs bit = 0..15"),
        ('type = "float32"', 'type = "float32"\nbit = 3', 'bit goes with type "bool"'),
        ("range = [0.0, 1.6]", "scale = 0.0", "scale must not be 0"),
    ],
)
def test_point_consistency(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    f = write(tmp_path / "p.toml", GOOD.replace(old, new))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(file, loc, msg)] = problems(err)
    assert (file, loc) == (str(f), "points[0]")
    assert fragment in msg


def test_duplicate_point_names_point_at_the_second(tmp_path: Path) -> None:
    text = GOOD + GOOD[GOOD.index("[[points]]") :].replace("address = 0", "address = 2")
    f = write(tmp_path / "d.toml", text)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert problems(err) == [(str(f), "points[1].name", "duplicate point name 'pressure'")]


def test_point_in_a_forbidden_range_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace(
        'source = "test"', 'source = "test"\nquirks = { forbidden = [ { start = 1, end = 1 } ] }'
    )
    f = write(tmp_path / "f.toml", text)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(_, loc, msg)] = problems(err)
    assert loc == "points[0].address"
    assert "quirks.forbidden 1..1" in msg


def test_coil_points_must_be_bool(tmp_path: Path) -> None:
    f = write(tmp_path / "c.toml", GOOD.replace("address = 0", 'address = 0\ntable = "coil"'))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(_, loc, msg)] = problems(err)
    assert loc == "points[0]"
    assert 'a coil point has type "bool"' in msg


def test_reference_to_a_missing_point_names_the_key(tmp_path: Path) -> None:
    f = write(tmp_path / "r.toml", GOOD.replace("address = 0", 'address = 0\ndecimals_from = "dp"'))
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    [(_, loc, msg)] = problems(err)
    assert loc == "points[0].decimals_from"
    assert "names no other point" in msg
    assert "pressure" in msg


def test_valid_if_reference_is_checked(tmp_path: Path) -> None:
    text = GOOD.replace("address = 0", 'address = 0\nvalid_if = { point = "mode", values = [1] }')
    f = write(tmp_path / "v.toml", text)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert problems(err)[0][1] == "points[0].valid_if.point"


def test_identify_fingerprint_must_name_a_point(tmp_path: Path) -> None:
    text = GOOD.replace(
        'source = "test"',
        'source = "test"\nidentify = { registers = [{ point = "vid", equals = 1 }] }',
    )
    f = write(tmp_path / "i.toml", text)
    with pytest.raises(ProfileError) as err:
        load_profile(f)
    assert problems(err)[0][1:] == ("identify.registers[0].point", "no point named 'vid'")
